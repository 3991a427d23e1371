import type { FinalState } from './outcome.js';

/** How one run of a task's job ended. */
export type RunEnd =
  | { kind: 'finished'; state: FinalState }
  /** The dispatcher is shutting down; the sandbox runs on and another dispatcher continues. */
  | { kind: 'handover' }
  /** Nothing to do: the task is unknown, final already, or was canceled before it started. */
  | { kind: 'skipped'; reason: string }
  /** Not yet: the task must not start before this other task has ended. It stays queued. */
  | { kind: 'waiting'; on: string };
