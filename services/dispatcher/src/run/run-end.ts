import type { TaskWaiting } from '@agentq/shared';
import type { FinalState } from './outcome.js';

/** How one run of a task's job ended. */
export type RunEnd =
  | { kind: 'finished'; state: FinalState }
  /** The dispatcher is shutting down; the sandbox runs on and another dispatcher continues. */
  | { kind: 'handover' }
  /** Nothing to do: the task is unknown, final already, or was canceled before it started. */
  | { kind: 'skipped'; reason: string }
  /**
   * Not yet: a concurrency cap is reached (`global`, `team`, `repo`: it starts when a slot is set
   * aside for it), or the task must not start before task `on` has ended (`predecessor`).
   */
  | { kind: 'waiting'; reason: TaskWaiting['reason']; on?: string };
