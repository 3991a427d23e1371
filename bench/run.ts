/*
 * Benchmarks, run with `npm run bench` (needs redis-server and git, like the tests).
 *
 * 1. Enqueue: POST /v1/tasks through the ingress process (auth, validation, record, relay entry,
 *    BullMQ job) against a raw BullMQ `queue.add` on the same Redis — latency percentiles and the
 *    ratio of the two, measured side by side.
 * 2. Demo task: submit → succeeded through all three services with the bundled demo agent at its
 *    default pacing (AGENTQ_DEMO_DELAY_MS=300) and with no pacing.
 */
import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { queues, type TaskRecord } from '@agentq/shared';
import { waitFor } from '@agentq/shared/testing';
import { startStack, type Stack } from '../test/support/stack.js';

function percentiles(samples: number[]): { p50: number; p90: number; p99: number; mean: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), mean: sorted.reduce((a, b) => a + b, 0) / sorted.length };
}

const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

async function timed(n: number, concurrency: number, op: (i: number) => Promise<void>): Promise<{ latencies: number[]; perSec: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const t0 = performance.now();
        await op(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { latencies, perSec: (n / (performance.now() - started)) * 1000 };
}

async function benchEnqueue(): Promise<void> {
  const stack = await startStack({ AGENTQ_LOG_LEVEL: 'warn' }, ['ingress']);
  const redis = new Redis(stack.env.REDIS_URL as string, { maxRetriesPerRequest: null });
  const raw = new Queue('bench-raw', { connection: redis, prefix: `${stack.env.AGENTQ_REDIS_PREFIX}-raw` });
  try {
    const n = 2000;
    for (const concurrency of [1, 16]) {
      const body = JSON.stringify({ repo: 'demo/hello', prompt: 'add a CONTRIBUTING.md' });
      const ours = await timed(n, concurrency, async () => {
        const res = await stack.api('/v1/tasks', { method: 'POST', body });
        if (res.status !== 202) throw new Error(`POST /v1/tasks answered ${res.status}`);
        await res.arrayBuffer();
      });
      const base = await timed(n, concurrency, async (i) => {
        await raw.add('task', { taskId: `raw-${concurrency}-${i}` }, { ...queues.tasks.jobOptions, jobId: `raw-${concurrency}-${i}` });
      });
      const a = percentiles(ours.latencies);
      const b = percentiles(base.latencies);
      console.log(`enqueue, ${n} tasks, concurrency ${concurrency}`);
      console.log(`  POST /v1/tasks   p50 ${fmt(a.p50)}  p90 ${fmt(a.p90)}  p99 ${fmt(a.p99)}  ${ours.perSec.toFixed(0)}/s`);
      console.log(`  raw queue.add    p50 ${fmt(b.p50)}  p90 ${fmt(b.p90)}  p99 ${fmt(b.p99)}  ${base.perSec.toFixed(0)}/s`);
      console.log(`  ratio (ours/raw) p50 ${(a.p50 / b.p50).toFixed(2)}x  throughput ${(base.perSec / ours.perSec).toFixed(2)}x slower`);
    }
  } finally {
    await raw.close();
    redis.disconnect();
    await stack.stop();
  }
}

async function runDemoTask(stack: Stack): Promise<{ ms: number; task: TaskRecord }> {
  const t0 = performance.now();
  const res = await stack.api('/v1/tasks', { method: 'POST', body: JSON.stringify({ repo: 'demo/hello', prompt: 'add a CONTRIBUTING.md' }) });
  const { id } = (await res.json()) as { id: string };
  const task = await waitFor(
    async () => {
      const t = (await (await stack.api(`/v1/tasks/${id}`)).json()) as TaskRecord;
      return ['succeeded', 'failed', 'canceled', 'timed_out'].includes(t.state) ? t : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 10 },
  );
  return { ms: performance.now() - t0, task };
}

async function benchDemoTask(): Promise<void> {
  for (const delay of ['300', '0']) {
    const stack = await startStack({ AGENTQ_LOG_LEVEL: 'warn', AGENTQ_DEMO_DELAY_MS: delay });
    try {
      await runDemoTask(stack); // warm-up
      const samples: number[] = [];
      for (let i = 0; i < 10; i++) {
        const { ms, task } = await runDemoTask(stack);
        if (task.state !== 'succeeded') throw new Error(`demo task ended ${task.state}`);
        samples.push(ms);
      }
      const p = percentiles(samples);
      console.log(`demo task submit → succeeded (AGENTQ_DEMO_DELAY_MS=${delay}), 10 runs one after another`);
      console.log(`  p50 ${fmt(p.p50)}  p90 ${fmt(p.p90)}  max ${fmt(Math.max(...samples))}`);
    } finally {
      await stack.stop();
    }
  }
}

await benchEnqueue();
await benchDemoTask();
