import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/keys.js';
import { queues, type TaskJob } from './catalog.js';

/**
 * The tasks queue on a connection, as the services open it (job id = task id). BullMQ is loaded
 * on first use, so importing this package stays cheap for programs that never open a queue.
 */
export async function openTaskQueue(connection: Redis, keys: RedisKeys): Promise<Queue<TaskJob>> {
  const { Queue } = await import('bullmq');
  return new Queue<TaskJob>(queues.tasks.name, { connection, prefix: keys.bullPrefix });
}

/**
 * Where the jobs waiting to start stand in their queue, by job id: 1 is the next to start. BullMQ
 * takes jobs without a priority first, then prioritized ones by priority, oldest first within one
 * (see `jobPriority`). Looks at the first `limit` of each only (later ones have no position).
 */
export async function waitingPositions(queue: Queue, limit = 1000): Promise<Map<string, number>> {
  const ids = await queue.getRanges(['waiting', 'prioritized'], 0, limit - 1, true);
  const out = new Map<string, number>();
  for (const id of ids) {
    if (out.size >= limit) break;
    if (!out.has(id)) out.set(id, out.size + 1);
  }
  return out;
}
