import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { DEFAULT_TEAM, newTaskId, queues, type RedisKeys, type TaskRecord, type TaskRequest, type TaskStore } from '@agentq/shared';

export interface TaskQueue {
  queue: Queue;
  close(): Promise<void>;
}

/** The task queue as the ingress opens it. `connection` must allow blocking (`connectRedis(url, {bullmq: true})`). */
export function openTaskQueue(connection: Redis, keys: RedisKeys): TaskQueue {
  const queue = new Queue(queues.tasks.name, { connection, prefix: keys.bullPrefix });
  return { queue, close: () => queue.close() };
}

/** Record fields the ingress sets beside the request (a follow-up in a Slack thread, ...). */
export type TaskFields = Partial<Pick<TaskRecord, 'followUpOf' | 'after' | 'source' | 'github' | 'trigger'>>;

export interface EnqueueContext {
  redis: Redis;
  keys: RedisKeys;
  store: TaskStore;
  queue: Queue;
}

/**
 * Submits a task the way the ingress does on `POST /v1/tasks`: the record (state queued), the entry
 * the log relay learns tasks from, then the job (id = task id). Returns the task id.
 */
export async function enqueueTask(
  ctx: EnqueueContext,
  request: Pick<TaskRequest, 'repo' | 'prompt'> & Partial<TaskRequest>,
  options: { team?: string; id?: string; fields?: TaskFields } = {},
): Promise<string> {
  const id = options.id ?? newTaskId();
  const created = await ctx.store.create({ ...request, id, team: options.team ?? DEFAULT_TEAM, source: 'api', ...options.fields });
  if (!created) throw new Error(`task ${id} exists already`);
  await ctx.redis.xadd(ctx.keys.relayTasks, '*', 'taskId', id);
  await ctx.queue.add(queues.tasks.name, { taskId: id }, { ...queues.tasks.jobOptions, jobId: id });
  return id;
}

/** Requests a cancel the way the ingress does for a started task: the flag, then the announcement. */
export async function requestCancel(ctx: Pick<EnqueueContext, 'redis' | 'keys' | 'store'>, id: string): Promise<void> {
  await ctx.store.update(id, { cancelRequested: true });
  await ctx.redis.publish(ctx.keys.cancelChannel, id);
}
