export const TASK_STATES = [
  'queued',
  'starting',
  'running',
  'publishing',
  'succeeded',
  'failed',
  'canceled',
  'timed_out',
] as const;

export type TaskState = (typeof TASK_STATES)[number];

export const FINAL_STATES: readonly TaskState[] = ['succeeded', 'failed', 'canceled', 'timed_out'];

export function isFinalState(state: TaskState): boolean {
  return FINAL_STATES.includes(state);
}

/** Which states each state may move to. Final states move nowhere. */
export const TRANSITIONS: Readonly<Record<TaskState, readonly TaskState[]>> = {
  queued: ['starting', 'failed', 'canceled'],
  starting: ['running', 'failed', 'canceled', 'timed_out'],
  running: ['publishing', 'succeeded', 'failed', 'canceled', 'timed_out'],
  publishing: ['succeeded', 'failed', 'canceled', 'timed_out'],
  succeeded: [],
  failed: [],
  canceled: [],
  timed_out: [],
};

/** The states from which `to` may be reached. */
export function allowedFrom(to: TaskState): TaskState[] {
  return TASK_STATES.filter((from) => TRANSITIONS[from].includes(to));
}
