import { z } from 'zod';
import type { JobsOptions } from 'bullmq';

/**
 * The queues agentq uses: name, payload schema and job options in one place. Job data holds
 * references only (the task id); the request lives in the task record, secrets in the dispatcher.
 */
export const taskJobSchema = z.object({ taskId: z.string() }).strict();
export type TaskJob = z.infer<typeof taskJobSchema>;

export const queues = {
  tasks: {
    name: 'tasks',
    schema: taskJobSchema,
    jobOptions: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 2000 },
      removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
      removeOnFail: { age: 30 * 24 * 3600 },
    } satisfies JobsOptions,
  },
} as const;
