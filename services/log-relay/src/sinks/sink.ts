import type { AgentEvent, TaskRecord } from '@agentq/shared';
import { SinkPendingError } from '../relay-errors.js';

/** What a sink's `finish` throws while it is still delivering in the background. */
export function sinkPending(sink: string, taskId: string): SinkPendingError {
  return new SinkPendingError(sink, taskId);
}

export interface Delivery {
  /** The task has ended: its stream, kept in Redis until every sink finished, is replayed from the start. */
  ended?: boolean;
}

/**
 * Where the relay delivers a task's events (storage now; chat threads, object stores later).
 * Every method may be called again for what was already delivered (after a crash, a restart or a
 * takeover by another relay): a sink is idempotent by (taskId, seq), and `finish` by taskId.
 */
export interface Sink {
  readonly name: string;
  /**
   * The relay starts (or starts again) following a task, before it delivers the task's events. A
   * sink that needs what happened before (events an earlier owner delivered) reads it here.
   */
  open?(taskId: string): Promise<void>;
  /**
   * Events of one task in ascending seq; may repeat events delivered before. With `ended`, the
   * task has ended and its stream is being replayed whole; `finish` follows.
   */
  deliver(taskId: string, events: AgentEvent[], delivery?: Delivery): Promise<void>;
  /**
   * The task ended and all its events were delivered; `task` is its final record. The relay
   * acknowledges the task only once `finish` resolved for every sink; a sink whose `finish` throws
   * is asked again later (the others are not). A sink still delivering in the background throws
   * `sinkPending(...)` (a `SinkPendingError`) rather than holding the relay up.
   */
  finish(task: TaskRecord): Promise<void>;
  /**
   * Drops what the sink keeps in memory about a task. Called when this relay starts or stops
   * following it (another relay may have delivered to the same destination in between).
   */
  release?(taskId: string): void;
  /** The relay stops: ends background work (what is left is continued by the next owner). */
  close?(): Promise<void>;
}
