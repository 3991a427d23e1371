/*
 * Benchmarks, run with `npm run bench` (needs redis-server and git, like the tests); name
 * sections to run only those: `npm run bench -- enqueue`.
 *
 * 1. enqueue: POST /v1/tasks through the ingress process (auth, validation, record, relay entry,
 *    BullMQ job) against a bare Fastify server that writes a Redis hash and calls `queue.add`
 *    (with a job priority, as the ingress), on the same Redis, with the same load generator
 *    (autocannon) and connection count, measured side by side in alternating rounds:
 *    throughput, p50/p99 and the ratio ingress/bare; then raw `queue.add` loops without and with
 *    a job priority. `BENCH_CONNECTIONS`, `BENCH_ROUNDS`, `BENCH_ROUND_SEC` and
 *    `BENCH_INGRESS_LOG_LEVEL` change the defaults (50, 3, 8, info); with
 *    `BENCH_CPU_PROF=<dir>` both servers write CPU profiles there (`bench/cpu-profile-summary.ts`).
 * 2. demo: a demo task submit → succeeded through all three services with the bundled demo agent
 *    at its default pacing (AGENTQ_DEMO_DELAY_MS=300) and with no pacing.
 * 3. crash: the dispatcher process is killed with SIGKILL in the middle of a demo task and
 *    started again; the time from the kill until the API shows the task's next event, with short
 *    queue lock timings (2 s lock, 1 s stalled check) and with the defaults (30 s + 30 s).
 * 4. handoff: a pool of one slot (`AGENTQ_MAX_RUNNING=1`) and demo tasks queued at once: from a
 *    task's slot being freed (its sandbox confirmed gone) to the next task's sandbox being created,
 *    and from the sandbox's program exiting to the next sandbox; p50/p90/p99. `BENCH_HANDOFF_TASKS`
 *    sets the number of tasks (default 41: 40 hand-offs).
 * 5. redact: the redactor's MB/s on agent-like output with 50 secrets (see bench/redact.ts).
 * 6. archive: the log relay archiving finished tasks into an S3-compatible server against a raw
 *    `PutObject` loop of the same bytes, and the archive's path for a running task (see
 *    bench/archive.ts; `BENCH_ARCHIVE_TASKS`, `BENCH_ARCHIVE_EVENTS`).
 * 7. streams: an ingress under N open live streams (`BENCH_STREAMS`, default 0,1000,5000,10000)
 *    of a few tasks (`BENCH_STREAMS_TASKS`, default 4), the clients in a process of their own:
 *    p50/p99 of `/readyz` and `POST /v1/tasks` (`BENCH_STREAMS_SAMPLES` each, default 50), the
 *    time for a new event to reach every stream, memory, and Redis client connections.
 * 8. gateway: the model gateway's added latency against a fake of the Anthropic Messages API
 *    called directly, same run, loopback: per streamed SSE chunk and per non-streamed call,
 *    p50/p99 (see bench/gateway.ts; `BENCH_GATEWAY_CALLS`, `BENCH_GATEWAY_CHUNKS`,
 *    `BENCH_GATEWAY_GAP_MS`).
 * 9. image-sizes: what each runtime target of the Dockerfile adds on top of its base image
 *    (compiled dist, production node_modules, agent CLIs), measured without a Docker engine by
 *    running the stages' commands in temp dirs (see bench/image-sizes.ts; reaches the npm
 *    registry where npm's cache lacks a package).
 */
import { performance } from 'node:perf_hooks';
import type { TaskRecord } from '@agentq/shared';
import { waitFor } from '@agentq/shared/testing';
import { startStack, type Stack } from '../test/support/stack.js';
import { benchEnqueue } from './enqueue.js';
import { benchHandoff } from './handoff.js';
import { fmt, percentiles } from './stats.js';

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

const sections: Record<string, () => Promise<void>> = {
  enqueue: () =>
    benchEnqueue({
      connections: Number(process.env.BENCH_CONNECTIONS ?? 50),
      rounds: Number(process.env.BENCH_ROUNDS ?? 3),
      roundSec: Number(process.env.BENCH_ROUND_SEC ?? 8),
      warmupSec: 3,
      ingressLogLevel: process.env.BENCH_INGRESS_LOG_LEVEL ?? 'info',
      cpuProfDir: process.env.BENCH_CPU_PROF,
    }),
  archive: async () => (await import('./archive.js')).benchArchive({ tasks: Number(process.env.BENCH_ARCHIVE_TASKS ?? 8), eventsPerTask: Number(process.env.BENCH_ARCHIVE_EVENTS ?? 5000), rounds: Number(process.env.BENCH_ROUNDS ?? 3) }),
  redact: async () => (await import('./redact.js')).benchRedact({ megabytes: Number(process.env.BENCH_REDACT_MB ?? 8), rounds: Number(process.env.BENCH_ROUNDS ?? 3) }),
  gateway: async () =>
    (await import('./gateway.js')).benchGateway({
      rounds: Number(process.env.BENCH_ROUNDS ?? 3),
      calls: Number(process.env.BENCH_GATEWAY_CALLS ?? 20),
      chunks: Number(process.env.BENCH_GATEWAY_CHUNKS ?? 50),
      gapMs: Number(process.env.BENCH_GATEWAY_GAP_MS ?? 2),
    }),
  demo: benchDemoTask,
  crash: benchCrashRecovery,
  streams: async () =>
    (await import('./streams.js')).benchStreams({
      levels: (process.env.BENCH_STREAMS ?? '0,1000,5000,10000').split(',').map(Number),
      tasks: Number(process.env.BENCH_STREAMS_TASKS ?? 4),
      samples: Number(process.env.BENCH_STREAMS_SAMPLES ?? 50),
    }),
  handoff: () => benchHandoff({ tasks: Number(process.env.BENCH_HANDOFF_TASKS ?? 41) }),
  'image-sizes': async () => (await import('./image-sizes.js')).benchImageSizes(),
};
const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in sections));
if (unknown.length > 0) throw new Error(`unknown bench section(s) ${unknown.join(', ')}; known: ${Object.keys(sections).join(', ')}`);
for (const [name, section] of Object.entries(sections)) {
  if (wanted.length === 0 || wanted.includes(name)) await section();
}
