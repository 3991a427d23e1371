import type { AgentEvent, TaskRecord } from '@agentq/shared';

/**
 * Where the relay delivers a task's events (storage now; chat threads, object stores later).
 * Every method may be called again for what was already delivered (after a crash, a restart or a
 * takeover by another relay): a sink is idempotent by (taskId, seq), and `finish` by taskId.
 */
export interface Sink {
  readonly name: string;
  /** Events of one task in ascending seq; may repeat events delivered before. */
  deliver(taskId: string, events: AgentEvent[]): Promise<void>;
  /** The task ended and all its events were delivered; `task` is its final record. */
  finish(task: TaskRecord): Promise<void>;
  /**
   * Drops what the sink keeps in memory about a task. Called when this relay starts or stops
   * following it (another relay may have delivered to the same destination in between).
   */
  release?(taskId: string): void;
}
