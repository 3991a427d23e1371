import type { AgentEvent } from '../events/agent-event.js';
import type { TaskRecord } from '../tasks/task-record.js';

/**
 * Where finished transcripts live: the log relay writes, the ingress reads after the Redis stream
 * expired. Appends are idempotent by seq.
 */
export interface TranscriptArchive {
  /** Appends the events whose seq is above what is stored; returns how many were written. */
  append(taskId: string, events: AgentEvent[]): Promise<number>;
  lastSeq(taskId: string): Promise<number>;
  readEvents(taskId: string, afterSeq?: number): Promise<AgentEvent[]>;
  writeTask(task: TaskRecord): Promise<void>;
  readTask(taskId: string): Promise<TaskRecord | undefined>;
  /**
   * Drops what is cached in memory about a task, so that the next call reads the store again
   * (another process may have written to it meanwhile).
   */
  forget?(taskId: string): void;
}
