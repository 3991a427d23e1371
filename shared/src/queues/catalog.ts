import { z } from 'zod';
import type { JobsOptions } from 'bullmq';
import type { TaskPriority } from '../tasks/task-request.js';

/**
 * The queues agentq uses: name, payload schema and job options in one place. Job data holds
 * references only (the task id); the request lives in the task record, secrets in the services
 * that use them (the dispatcher's credentials, the relay's callback signing key).
 */
export const taskJobSchema = z.object({ taskId: z.string() }).strict();
export type TaskJob = z.infer<typeof taskJobSchema>;

/** A completion callback to send: the task whose final record goes to its `callbackUrl`. */
export const callbackJobSchema = z.object({ taskId: z.string() }).strict();
export type CallbackJob = z.infer<typeof callbackJobSchema>;

/**
 * The BullMQ priority of a task's job (lower runs first). Every task job gets one, `normal` too:
 * BullMQ takes a job without a priority before every prioritized job, so leaving `normal` out
 * would put it ahead of `high`. Jobs of the same priority keep their order.
 */
export const JOB_PRIORITIES: Record<TaskPriority, number> = { high: 1, normal: 2, low: 3 };

export function jobPriority(priority: TaskPriority | undefined): number {
  return JOB_PRIORITIES[priority ?? 'normal'];
}

/** Seconds a day. */
const DAY = 24 * 3600;

export const queues = {
  tasks: {
    name: 'tasks',
    schema: taskJobSchema,
    jobOptions: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 2000 },
      removeOnComplete: { age: 7 * DAY, count: 10_000 },
      removeOnFail: { age: 30 * DAY },
    } satisfies JobsOptions,
  },
  /**
   * Completion callbacks, sent by the log relays' workers. One job per task: its id is the task id,
   * so a task finished twice (by two relays, or again after a restart) is enqueued once while its
   * job is kept. Attempts and their backoff are BullMQ's; the `callback` backoff type is the
   * relay's (its retry policy, or the receiver's `Retry-After`).
   */
  callbacks: {
    name: 'callbacks',
    schema: callbackJobSchema,
    jobId: (taskId: string): string => taskId,
    jobOptions: {
      attempts: 8,
      backoff: { type: 'callback' },
      // kept (and so enqueued once) at least as long as a task's events by default
      removeOnComplete: { age: 7 * DAY },
      removeOnFail: { age: 30 * DAY },
    } satisfies JobsOptions,
  },
} as const;
