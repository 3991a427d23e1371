import type { AgentEvent } from '../events/agent-event.js';
import type { TaskRecord } from '../tasks/task-record.js';

export interface AppendOptions {
  /** The task has ended; its events are being replayed from Redis, and `writeTask` comes next. */
  ended?: boolean;
}

/**
 * Where finished transcripts live: the log relay writes, the ingress reads after the Redis stream
 * expired. Appends are idempotent by seq.
 */
export interface TranscriptArchive {
  /** Where it is, as a URL for logs (`file:///…`, `s3://bucket/prefix`); holds no credentials. */
  readonly location?: string;
  /**
   * Appends the events whose seq is above what is stored; returns how many were taken. With
   * `ended`, the task has ended and `writeTask` follows while its events stay in Redis: an archive
   * may hold them in memory and store them with the whole transcript then (a process that dies
   * first loses nothing: the next relay replays the stream).
   */
  append(taskId: string, events: AgentEvent[], options?: AppendOptions): Promise<number>;
  lastSeq(taskId: string): Promise<number>;
  /** Every stored event after `afterSeq`, seq ascending, each seq once. */
  readEvents(taskId: string, afterSeq?: number): Promise<AgentEvent[]>;
  /**
   * The task ended and all its events were appended: stores the final record (an archive may
   * consolidate the transcript first). Safe to call again.
   */
  writeTask(task: TaskRecord): Promise<void>;
  readTask(taskId: string): Promise<TaskRecord | undefined>;
  /**
   * Drops what is cached in memory about a task, so that the next call reads the store again
   * (another process may have written to it meanwhile).
   */
  forget?(taskId: string): void;
  /** Throws when the store cannot be reached (or is not set up) now. */
  check?(): Promise<void>;
  /** Releases connections. */
  close?(): void;
}
