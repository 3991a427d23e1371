import type { AgentEvent, TaskRecord, TranscriptArchive } from '@agentq/shared';
import type { Sink } from './sink.js';

/** Writes the transcript (`events.jsonl`) and the final record (`task.json`) to the archive. */
export class StorageSink implements Sink {
  readonly name = 'storage';

  constructor(private readonly archive: TranscriptArchive) {}

  async deliver(taskId: string, events: AgentEvent[]): Promise<void> {
    await this.archive.append(taskId, events);
  }

  async finish(task: TaskRecord): Promise<void> {
    await this.archive.writeTask(task);
  }

  release(taskId: string): void {
    this.archive.forget?.(taskId);
  }
}
