import type { TaskWaiting } from './task-record.js';

/** What a waiting task waits for, in words: the record's `waiting`, or a `task.waiting` event. */
export type WaitingInfo = Pick<TaskWaiting, 'reason' | 'position' | 'on'>;

const LIMIT_TEXT: Record<Exclude<TaskWaiting['reason'], 'predecessor'>, string> = {
  global: 'no free slot',
  team: 'team limit reached',
  repo: 'repository limit reached',
};

/**
 * One line saying why a queued task waits: `waiting: team limit reached (position 2)`, or
 * `waiting for task <id> to end`. `id` formats the task id (for markup); plain by default.
 */
export function waitingText(waiting: WaitingInfo, id: (taskId: string) => string = (taskId) => taskId): string {
  if (waiting.reason === 'predecessor') {
    return waiting.on ? `waiting for task ${id(waiting.on)} to end` : 'waiting for an earlier task to end';
  }
  const position = waiting.position !== undefined ? ` (position ${waiting.position})` : '';
  return `waiting: ${LIMIT_TEXT[waiting.reason]}${position}`;
}
