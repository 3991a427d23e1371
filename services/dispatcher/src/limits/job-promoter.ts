import { Job, type Queue } from 'bullmq';
import { errorMessage, queues, type Logger, type TaskStore } from '@agentq/shared';
import type { SlotLedger } from './slot-ledger.js';

/** Job states in which the task's job will run (again) by itself and find the slot set aside for it. */
const WILL_RUN = new Set(['active', 'waiting', 'prioritized', 'waiting-children']);

/**
 * Starts the jobs of tasks a slot was set aside for: a waiting task's job sleeps in BullMQ's
 * delayed set and is promoted to run now. A task whose job will never run (canceled and removed,
 * or finished) gives its slot to the next in line.
 */
export class JobPromoter {
  constructor(
    private readonly queue: Queue,
    private readonly store: TaskStore,
    private readonly ledger: SlotLedger,
    private readonly log: Logger,
  ) {}

  async promote(taskIds: string[]): Promise<void> {
    await Promise.all(taskIds.map((id) => this.promoteOne(id)));
  }

  /** Never throws. */
  async promoteOne(taskId: string): Promise<void> {
    try {
      if (await this.tryPromote(taskId)) return;
      const state = await this.queue.getJobState(taskId);
      // delayed: moved there between the two looks (its own run checks for a slot set aside then)
      if (state === 'delayed') {
        await this.tryPromote(taskId);
        return;
      }
      if (WILL_RUN.has(state)) return;
      const task = await this.store.get(taskId);
      this.log.info({ taskId, jobState: state, taskState: task?.state }, 'slot set aside for a task whose job will not run; handed on');
      await this.ledger.forget(taskId);
      if (task?.waiting) await this.store.unset(taskId, ['waiting']);
    } catch (err) {
      // the task's job looks again by itself (its delay is the backstop); an unused slot lapses
      this.log.warn({ taskId, err: errorMessage(err) }, 'could not start the job of a task a slot was set aside for');
    }
  }

  /** Moves the job from the delayed set to the waiting list; false when it is not delayed (or gone). */
  private async tryPromote(taskId: string): Promise<boolean> {
    try {
      await new Job(this.queue, queues.tasks.name, { taskId }, {}, taskId).promote();
      return true;
    } catch {
      return false;
    }
  }
}
