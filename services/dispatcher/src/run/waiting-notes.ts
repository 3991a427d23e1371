import type { Logger, TaskRecord, TaskWaiting } from '@agentq/shared';
import type { RunnerDeps } from './runner-deps.js';

/** Why a task waits now: for a slot (and where it stands), or for another task to end. */
export type WaitNow = Pick<TaskWaiting, 'reason' | 'position' | 'on'>;

export type WaitingNotesDeps = Pick<RunnerDeps, 'store' | 'slots'>;

/**
 * Says on a queued task's record why it waits (`waiting`), and in its events when it begins to
 * wait or waits for another reason than before (`task.waiting`); takes `waiting` off when it
 * starts. The position on the record is the one it had when it last looked; readers get the
 * current one from the slot ledger.
 */
export class WaitingNotes {
  constructor(
    private readonly deps: WaitingNotesDeps,
    private readonly log: Logger,
  ) {}

  async waiting(task: TaskRecord, now: WaitNow): Promise<void> {
    const before = task.waiting;
    if (now.reason === 'predecessor' && before?.reason !== 'predecessor') await this.deps.slots.notePredecessorWait(task, true);
    if (now.reason !== 'predecessor' && before?.reason === 'predecessor') await this.deps.slots.notePredecessorWait(task, false);
    if (before && before.reason === now.reason && before.on === now.on) return;
    const waiting: TaskWaiting = { ...now, since: before?.since ?? new Date().toISOString() };
    await this.deps.store.update(task.id, { waiting });
    await this.deps.store.append(task.id, [{ kind: 'task.waiting', ...now }]);
    task.waiting = waiting;
    this.log.info({ reason: now.reason, position: now.position, on: now.on }, 'task waits');
  }

  /** The task waits no more (it starts). */
  async done(task: TaskRecord): Promise<void> {
    const before = task.waiting;
    if (!before) return;
    if (before.reason === 'predecessor') await this.deps.slots.notePredecessorWait(task, false);
    await this.deps.store.unset(task.id, ['waiting']);
    delete task.waiting;
  }
}
