/*
 * Benchmarks, run with `npm run bench` (needs redis-server and git, like the tests).
 *
 * 1. Enqueue: POST /v1/tasks through the ingress process (auth, validation, record, relay entry,
 *    BullMQ job) against a raw BullMQ `queue.add` on the same Redis — latency percentiles and the
 *    ratio of the two, measured side by side.
 * 2. Demo task: submit → succeeded through all three services with the bundled demo agent at its
 *    default pacing (AGENTQ_DEMO_DELAY_MS=300) and with no pacing.
 * 3. Crash recovery: the dispatcher process is killed with SIGKILL in the middle of a demo task and
 *    started again; the time from the kill until the API shows the task's next event, with short
 *    queue lock timings (2 s lock, 1 s stalled check) and with the defaults (30 s + 30 s).
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

/** Kills the dispatcher mid-task, starts it again, and times the task's next event as the API shows it. */
async function crashOnce(stack: Stack): Promise<number> {
  const res = await stack.api('/v1/tasks', { method: 'POST', body: JSON.stringify({ repo: 'demo/hello', prompt: 'add a CONTRIBUTING.md' }) });
  const { id } = (await res.json()) as { id: string };
  const record = async () => (await (await stack.api(`/v1/tasks/${id}`)).json()) as TaskRecord;
  // a few events in: the agent is at work
  await waitFor(async () => ((await record()).lastSeq ?? 0) >= 8, { timeoutMs: 30_000, intervalMs: 10 });
  await stack.kill('dispatcher', 'SIGKILL');
  const killedAt = performance.now();
  const seqAtKill = (await record()).lastSeq ?? 0;
  await stack.start('dispatcher');
  await waitFor(async () => ((await record()).lastSeq ?? 0) > seqAtKill, { timeoutMs: 120_000, intervalMs: 10 });
  const ms = performance.now() - killedAt;
  const task = await waitFor(async () => {
    const t = await record();
    return ['succeeded', 'failed', 'canceled', 'timed_out'].includes(t.state) ? t : undefined;
  }, { timeoutMs: 60_000, intervalMs: 20 });
  if (task.state !== 'succeeded') throw new Error(`task ended ${task.state} after the crash`);
  return ms;
}

async function benchCrashRecovery(): Promise<void> {
  const runs = [
    { lockMs: '2000', stalledMs: '1000', n: 5 },
    { lockMs: '30000', stalledMs: '30000', n: 1 },
  ];
  for (const { lockMs, stalledMs, n } of runs) {
    const stack = await startStack({
      AGENTQ_LOG_LEVEL: 'warn',
      AGENTQ_DEMO_DELAY_MS: '500',
      AGENTQ_DISPATCHER_LOCK_MS: lockMs,
      AGENTQ_DISPATCHER_STALLED_INTERVAL_MS: stalledMs,
    });
    try {
      const samples: number[] = [];
      for (let i = 0; i < n; i++) samples.push(await crashOnce(stack));
      console.log(`crash recovery: SIGKILL of the dispatcher mid-task → the task's next event (lock ${lockMs} ms, stalled check ${stalledMs} ms), ${n} run(s)`);
      console.log(`  ${samples.map(fmt).join(', ')}`);
    } finally {
      await stack.stop();
    }
  }
}

await benchEnqueue();
await benchDemoTask();
await benchCrashRecovery();
