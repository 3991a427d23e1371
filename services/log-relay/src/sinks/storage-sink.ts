import type { AgentEvent, TaskRecord, TranscriptArchive } from '@agentq/shared';
import type { ArchiveHealth } from './archive-health.js';
import type { Delivery, Sink } from './sink.js';

/**
 * Writes the transcript and the final record (`task.json`) to the archive. A write that fails
 * throws: the relay acknowledges nothing and delivers the events again later.
 */
export class StorageSink implements Sink {
  readonly name = 'storage';

  constructor(
    private readonly archive: TranscriptArchive,
    private readonly health?: ArchiveHealth,
  ) {}

  async deliver(taskId: string, events: AgentEvent[], delivery: Delivery = {}): Promise<void> {
    await this.run('append', () => this.archive.append(taskId, events, { ended: delivery.ended }));
  }

  async finish(task: TaskRecord): Promise<void> {
    await this.run('finish', () => this.archive.writeTask(task));
  }

  release(taskId: string): void {
    this.archive.forget?.(taskId);
  }

  private run<T>(op: 'append' | 'finish', work: () => Promise<T>): Promise<T> {
    return this.health ? this.health.track(op, work) : work();
  }
}
