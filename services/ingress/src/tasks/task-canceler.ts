import { isFinalState, type Logger, type TaskRecord, type TaskState, type TaskStore } from '@agentq/shared';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { ingressError, taskNotFound } from '../http/ingress-errors.js';
import { redisCall } from '../http/redis-call.js';

export interface CancelResult {
  id: string;
  state: TaskState;
  /** Set when the task is running: the dispatcher running it stops it and ends it `canceled`. */
  cancelRequested?: boolean;
}

/**
 * Cancels a task. A queued task becomes `canceled` at once (and its job is removed); a task that
 * has started is flagged `cancelRequested` and announced on the cancel channel, and the
 * dispatcher running it terminates the sandbox and ends the task. Final tasks cannot be canceled.
 */
export class TaskCanceler {
  constructor(
    private readonly store: TaskStore,
    private readonly redis: Redis,
    private readonly queue: Queue,
    private readonly logger: Logger,
  ) {}

  async cancel(task: TaskRecord): Promise<CancelResult> {
    const { store } = this;
    let state = task.state;
    for (let round = 0; round < 3; round++) {
      if (isFinalState(state)) {
        throw ingressError('INGRESS_TASK_FINAL', `task ${task.id} has already ended (${state})`, { details: { state } });
      }
      if (state === 'queued') {
        const moved = await redisCall(() => store.transition(task.id, 'canceled'));
        if (moved.ok) {
          await this.removeJob(task.id);
          return { id: task.id, state: 'canceled' };
        }
        if (moved.current === undefined) throw taskNotFound(task.id);
        state = moved.current;
        continue;
      }
      await redisCall(async () => {
        await store.update(task.id, { cancelRequested: true });
        await store.append(task.id, [{ kind: 'log', stream: 'system', text: 'cancel requested' }]);
        await this.redis.publish(store.keys.cancelChannel, task.id);
      });
      return { id: task.id, state, cancelRequested: true };
    }
    throw ingressError('INGRESS_UNAVAILABLE', 'the task changed state too often; retry');
  }

  private async removeJob(taskId: string): Promise<void> {
    try {
      await this.queue.remove(taskId);
    } catch (err) {
      // a job a dispatcher has just taken is locked; the dispatcher finds the task canceled
      this.logger.debug({ taskId, err }, 'could not remove the job of a canceled task');
    }
  }
}
