import type { TaskState } from '@agentq/shared';

/** Exit codes of the `agentq` command. */
export const EXIT = {
  /** The command worked; a followed task succeeded. */
  ok: 0,
  /** A followed task failed. */
  failed: 1,
  /** Bad usage, or the request could not be made or was refused (API error, agentq unreachable). */
  usage: 2,
  /** A followed task was canceled. */
  canceled: 3,
  /** A followed task ran past its time limit. */
  timedOut: 4,
  /** Following was interrupted with Ctrl-C (the task keeps running). */
  interrupted: 130,
} as const;

/** The exit code that reports a task's state; undefined while the task is not final. */
const STATE_EXIT: Record<TaskState, number | undefined> = {
  queued: undefined,
  starting: undefined,
  running: undefined,
  publishing: undefined,
  succeeded: EXIT.ok,
  failed: EXIT.failed,
  canceled: EXIT.canceled,
  timed_out: EXIT.timedOut,
};

export function exitCodeForState(state: TaskState): number | undefined {
  return STATE_EXIT[state];
}

export function isFinal(state: string): state is TaskState {
  return state in STATE_EXIT && STATE_EXIT[state as TaskState] !== undefined;
}

/** Every task state, in lifecycle order. */
export const TASK_STATE_NAMES = Object.keys(STATE_EXIT) as TaskState[];
