/*
 * The baseline of the enqueue benchmark: the least a server can do to accept a task, written
 * the obvious way with the same libraries as the ingress. Fastify with its defaults (no logger),
 * `POST /v1/tasks` parses the JSON body, writes a Redis hash for the task and calls BullMQ's
 * `queue.add` (with the job priority a task of normal priority gets, as the ingress's jobs all
 * have one), then answers 202. No auth, no validation, no idempotency, no metrics.
 *
 * Env: REDIS_URL, BENCH_PREFIX (Redis key prefix), PORT. Prints `listening <url>` when ready.
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { jobPriority, queues } from '@agentq/shared';

const prefix = process.env.BENCH_PREFIX ?? 'bench-bare';
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const queue = new Queue(queues.tasks.name, { connection: redis, prefix: `${prefix}:{q}` });
const app = Fastify();

app.post('/v1/tasks', async (request, reply) => {
  const body = request.body as { repo: string; prompt: string };
  const id = randomUUID();
  await redis.hset(`${prefix}:task:{${id}}`, { id, repo: body.repo, prompt: body.prompt, state: 'queued', createdAt: new Date().toISOString() });
  await queue.add(queues.tasks.name, { taskId: id }, { ...queues.tasks.jobOptions, jobId: id, priority: jobPriority(undefined) });
  return reply.code(202).send({ id, state: 'queued' });
});

const close = async () => {
  await app.close();
  await queue.close();
  redis.disconnect();
  process.exit(0);
};
process.once('SIGTERM', () => void close());

const url = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
console.log(`listening ${url}`);
