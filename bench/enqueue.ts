import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { jobPriority, queues } from '@agentq/shared';
import { uniquePrefix } from '@agentq/shared/testing';
import { startStack } from '../test/support/stack.js';
import { httpLoad, type LoadResult } from './http-load.js';
import { processCpuMs, redisCpuMs } from './process-cpu.js';
import { fmt, median, percentiles } from './stats.js';

export interface EnqueueBenchOptions {
  /** Concurrent connections of the load generator. */
  connections: number;
  /** Measured rounds; each runs the bare server, then the ingress, for `roundSec`. */
  rounds: number;
  roundSec: number;
  warmupSec: number;
  /** Log level of the ingress (its default, `info`, unless told otherwise). */
  ingressLogLevel: string;
  /** When set, both servers write a CPU profile of the measured rounds into this directory when they stop. */
  cpuProfDir?: string;
}

interface BareServer {
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

/** A load run with the CPU time the server process and Redis spent on each answer (µs). */
interface Measured extends LoadResult {
  serverCpuUs: number;
  redisCpuUs: number;
}

/** The baseline server (`bare-enqueue-server.ts`) as a process of its own, like the ingress. */
async function startBareServer(redisUrl: string, nodeOptions: NodeJS.ProcessEnv): Promise<BareServer> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'bare-enqueue-server.ts')], {
    env: { PATH: process.env.PATH, REDIS_URL: redisUrl, BENCH_PREFIX: uniquePrefix('bare'), PORT: '0', ...nodeOptions },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening (\S+)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`bare server exited (${code}) before listening`)));
  });
  return {
    url,
    pid: child.pid,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const cpu = (us: number) => (Number.isFinite(us) ? `${us.toFixed(0).padStart(4)} µs` : '   ? µs');

const line = (name: string, r: Measured) =>
  `    ${name.padEnd(14)} ${r.perSec.toFixed(0).padStart(6)}/s  p50 ${fmt(r.p50)}  p90 ${fmt(r.p90)}  p99 ${fmt(r.p99)}  max ${fmt(r.max)}  CPU per answer: server ${cpu(r.serverCpuUs)}, redis ${cpu(r.redisCpuUs)}`;

/**
 * POST /v1/tasks of the ingress against a bare Fastify server that writes a Redis hash and calls
 * `queue.add`, on the same Redis, with the same load generator and connection count, in
 * alternating rounds; then a raw `queue.add` loop as the floor of what BullMQ costs.
 */
export async function benchEnqueue(options: EnqueueBenchOptions): Promise<void> {
  const profiling = (name: string): NodeJS.ProcessEnv =>
    options.cpuProfDir
      ? { NODE_OPTIONS: `--import ${join(import.meta.dirname, 'cpu-profiler.mjs')}`, BENCH_CPU_PROF: options.cpuProfDir, BENCH_CPU_PROF_NAME: name }
      : {};
  const stack = await startStack({ AGENTQ_LOG_LEVEL: options.ingressLogLevel, ...profiling('ingress') }, ['ingress']);
  const redisUrl = stack.env.REDIS_URL as string;
  const bare = await startBareServer(redisUrl, profiling('bare'));
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const body = JSON.stringify({ repo: 'demo/hello', prompt: 'add a CONTRIBUTING.md' });
  const measure = async (url: string, pid: number | undefined, headers: Record<string, string>, durationSec: number): Promise<Measured> => {
    const server0 = processCpuMs(pid);
    const redis0 = await redisCpuMs(redis);
    const result = await httpLoad({
      url: `${url}/v1/tasks`,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      connections: options.connections,
      durationSec,
      expectStatus: 202,
    });
    const server1 = processCpuMs(pid);
    const redis1 = await redisCpuMs(redis);
    const perAnswerUs = (ms: number) => (ms * 1000) / result.total;
    return {
      ...result,
      serverCpuUs: server0 === undefined || server1 === undefined ? NaN : perAnswerUs(server1 - server0),
      redisCpuUs: perAnswerUs(redis1 - redis0),
    };
  };
  const ingress = (durationSec: number) =>
    measure(stack.url, stack.services.get('ingress')?.child.pid, { authorization: `Bearer ${stack.token}` }, durationSec);
  const baseline = (durationSec: number) => measure(bare.url, bare.pid, {}, durationSec);
  try {
    await baseline(options.warmupSec);
    await ingress(options.warmupSec);
    if (options.cpuProfDir) {
      for (const pid of [bare.pid, stack.services.get('ingress')?.child.pid]) if (pid !== undefined) process.kill(pid, 'SIGUSR2');
    }
    const bares: Measured[] = [];
    const ours: Measured[] = [];
    console.log(
      `enqueue: POST /v1/tasks, ${options.connections} connections, ${options.rounds} rounds of ${options.roundSec} s each (ingress log level ${options.ingressLogLevel}), load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    for (let round = 1; round <= options.rounds; round++) {
      const b = await baseline(options.roundSec);
      const o = await ingress(options.roundSec);
      bares.push(b);
      ours.push(o);
      console.log(`  round ${round}: ratio ingress/bare ${(o.perSec / b.perSec).toFixed(2)}`);
      console.log(line('bare enqueue', b));
      console.log(line('ingress', o));
    }
    const summary = (rs: Measured[]): Measured => ({
      perSec: median(rs.map((r) => r.perSec)),
      p50: median(rs.map((r) => r.p50)),
      p90: median(rs.map((r) => r.p90)),
      p99: median(rs.map((r) => r.p99)),
      max: median(rs.map((r) => r.max)),
      total: median(rs.map((r) => r.total)),
      serverCpuUs: median(rs.map((r) => r.serverCpuUs)),
      redisCpuUs: median(rs.map((r) => r.redisCpuUs)),
    });
    const ratio = median(ours.map((r, i) => r.perSec / (bares[i]?.perSec ?? NaN)));
    console.log(`  median of ${options.rounds} rounds: ratio ingress/bare ${ratio.toFixed(2)}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`);
    console.log(line('bare enqueue', summary(bares)));
    console.log(line('ingress', summary(ours)));
    await rawQueueAdd(redisUrl, options.connections);
    if (options.cpuProfDir) {
      const answers = (rs: Measured[]) => rs.reduce((sum, r) => sum + r.total, 0);
      console.log(`  CPU profiles of the measured rounds in ${options.cpuProfDir} once the servers stopped: bare-<pid> covers ${answers(bares)} answers, ingress-<pid> ${answers(ours)};`);
      console.log(`  summarise with: node --import tsx bench/cpu-profile-summary.ts <file> --answers=<answers> [--all]`);
    }
  } finally {
    redis.disconnect();
    await bare.stop();
    await stack.stop();
  }
}

/**
 * `queue.add` in a loop with `concurrency` calls in flight, from this process: jobs without a
 * priority (BullMQ's `wait` list) and with one (its `prioritized` set, as the ingress adds them),
 * alternating, on fresh queues.
 */
async function rawQueueAdd(redisUrl: string, concurrency: number): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  try {
    for (const round of [1, 2]) {
      for (const priority of [undefined, jobPriority(undefined)]) {
        const queue = new Queue(queues.tasks.name, { connection: redis, prefix: `${uniquePrefix('raw')}:{q}` });
        try {
          const n = 20_000;
          const latencies: number[] = [];
          let next = 0;
          const started = performance.now();
          await Promise.all(
            Array.from({ length: concurrency }, async () => {
              while (next < n) {
                const id = `raw-${next++}`;
                const t0 = performance.now();
                await queue.add(queues.tasks.name, { taskId: id }, { ...queues.tasks.jobOptions, jobId: id, ...(priority ? { priority } : {}) });
                latencies.push(performance.now() - t0);
              }
            }),
          );
          const perSec = (n / (performance.now() - started)) * 1000;
          const p = percentiles(latencies);
          const kind = priority ? `with priority ${priority}` : 'without priority';
          console.log(`  raw queue.add loop ${round}, ${n} jobs ${kind}, ${concurrency} in flight: ${perSec.toFixed(0)}/s  p50 ${fmt(p.p50)}  p99 ${fmt(p.p99)}`);
        } finally {
          await queue.obliterate({ force: true });
          await queue.close();
        }
      }
    }
  } finally {
    redis.disconnect();
  }
}
