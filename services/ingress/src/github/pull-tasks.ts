import { isTaskId, type TaskRecord, type TaskStore, type TranscriptArchive } from '@agentq/shared';
import type { Redis } from 'ioredis';
import { redisCall } from '../http/redis-call.js';

/** Idempotency keys of GitHub deliveries (`X-GitHub-Delivery`) live in this scope. */
export const GITHUB_DELIVERY_SCOPE = 'github';

interface Lookups {
  store: TaskStore;
  archive: TranscriptArchive;
  redis: Redis;
}

/** The task that opened this pull request, when agentq opened it (from Redis, or the archive once it expired there). */
export async function pullTask({ store, archive, redis }: Lookups, repo: string, number: number): Promise<TaskRecord | undefined> {
  const id = await redisCall(() => redis.get(store.keys.githubPull(repo, number)));
  if (!id || !isTaskId(id)) return undefined;
  return (await redisCall(() => store.get(id))) ?? (await archive.readTask(id));
}

/** The task an earlier delivery with this id created, when it still exists: a redelivery answers with it. */
export async function deliveryTask({ store, redis }: Omit<Lookups, 'archive'>, deliveryId: string): Promise<string | undefined> {
  const bound = await redisCall(() => redis.get(store.keys.idempotency(GITHUB_DELIVERY_SCOPE, deliveryId)));
  return bound && isTaskId(bound) && (await redisCall(() => store.get(bound))) ? bound : undefined;
}
