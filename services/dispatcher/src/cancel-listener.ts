import type { Redis } from 'ioredis';
import type { Logger } from '@agentq/shared';

/**
 * Listens on the cancel channel (one subscriber connection per dispatcher) and calls whoever runs
 * the named task. Cancel requests are also on the task record (`cancelRequested`), which runners
 * poll, so a message missed while disconnected is not lost.
 */
export class CancelListener {
  private readonly watchers = new Map<string, Set<() => void>>();
  private closed = false;

  private constructor(
    private readonly subscriber: Redis,
    private readonly logger: Logger,
  ) {
    subscriber.on('message', (_channel: string, taskId: string) => {
      const set = this.watchers.get(taskId);
      if (!set) return;
      this.logger.info({ taskId }, 'cancel requested');
      for (const callback of set) callback();
    });
  }

  static async start(subscriber: Redis, channel: string, logger: Logger): Promise<CancelListener> {
    const listener = new CancelListener(subscriber, logger);
    await subscriber.subscribe(channel);
    return listener;
  }

  /** Calls `onCancel` when a cancel of `taskId` is announced; returns the function that stops watching. */
  watch(taskId: string, onCancel: () => void): () => void {
    let set = this.watchers.get(taskId);
    if (!set) {
      set = new Set();
      this.watchers.set(taskId, set);
    }
    set.add(onCancel);
    return () => {
      set.delete(onCancel);
      if (set.size === 0 && this.watchers.get(taskId) === set) this.watchers.delete(taskId);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watchers.clear();
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
  }
}
