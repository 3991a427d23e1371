import type { TaskWaiting } from './task-record.js';

/** What a waiting task waits for: the record's `waiting`, or a `task.waiting` event. */
export type WaitingInfo = Pick<TaskWaiting, 'reason' | 'position' | 'on'>;

/** The words for the limits a task can wait on (the viewer page uses them too). */
export const WAIT_LIMIT_TEXT: Record<Exclude<TaskWaiting['reason'], 'predecessor'>, string> = {
  global: 'no free slot',
  team: 'team limit reached',
  repo: 'repository limit reached',
};

const plain = (taskId: string) => taskId;

/**
 * Why a queued task waits, in a few words: `team limit reached (position 2)`, or
 * `for task <id> to end`. `id` formats the task id (for markup); plain by default.
 */
export function waitingReason(waiting: WaitingInfo, id: (taskId: string) => string = plain): string {
  if (waiting.reason === 'predecessor') return waiting.on ? `for task ${id(waiting.on)} to end` : 'for an earlier task to end';
  const position = waiting.position !== undefined ? ` (position ${waiting.position})` : '';
  return `${WAIT_LIMIT_TEXT[waiting.reason]}${position}`;
}

/** One line: `waiting: team limit reached (position 2)`, or `waiting for task <id> to end`. */
export function waitingText(waiting: WaitingInfo, id: (taskId: string) => string = plain): string {
  return waiting.reason === 'predecessor' ? `waiting ${waitingReason(waiting, id)}` : `waiting: ${waitingReason(waiting, id)}`;
}
