/*
 * `npm run bench -- archive`: the log relay archiving finished tasks into an S3-compatible server
 * (s3rver, a process of its own on 127.0.0.1) against a raw `PutObject` loop of the same bytes on
 * the same server, in alternating rounds; prints events/s, MiB/s and the ratio relay/raw (goal
 * ≥ 0.5), and the archive's own path for a task followed while it runs. `BENCH_ARCHIVE_TASKS`, `BENCH_ARCHIVE_EVENTS` and `BENCH_ROUNDS` change the workload
 * (8 tasks of 5000 agent events, 3 rounds).
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import {
  TaskStore,
  createLogger,
  loadConfig,
  newTaskId,
  openTranscriptArchive,
  redisKeys,
  type AgentEvent,
  type AgentEventInput,
  type Config,
} from '@agentq/shared';
import { TEST_S3_KEYS, makeTempDir, startTestRedis, startTestS3, uniquePrefix, waitFor, type TestS3 } from '@agentq/shared/testing';
import { startRelay } from '@agentq/log-relay';
import { median } from './stats.js';

export interface ArchiveBenchOptions {
  /** Finished tasks per round, archived at once. */
  tasks: number;
  /** Agent events per task (the task's state events come on top). */
  eventsPerTask: number;
  rounds: number;
}

/** Entries the relay reads per stream per call: one chunk of the archive. */
const RELAY_BATCH = 200;

/** An agent's work, as events of the sizes a real transcript has (messages, tool calls, tool output, log lines). */
function agentEvents(count: number): AgentEventInput[] {
  const out: AgentEventInput[] = [];
  for (let i = 0; i < count; i++) {
    switch (i % 4) {
      case 0:
        out.push({ kind: 'agent.message', text: `Step ${i}: reading the failing test and the code it covers, then changing the retry logic so the login flow waits for the token refresh.` });
        break;
      case 1:
        out.push({ kind: 'agent.tool_call', id: `toolu_${i}`, name: 'Bash', input: { command: `npm test -- test/login.test.ts --reporter=dot # ${i}`, timeout: 120000 } });
        break;
      case 2:
        out.push({ kind: 'agent.tool_result', id: `toolu_${i - 1}`, ok: true, output: `PASS test/login.test.ts\n${'  ✓ logs in with a fresh token (12 ms)\n'.repeat(20)}` });
        break;
      default:
        out.push({ kind: 'log', stream: 'output', text: `[run] step ${i} finished in ${(i * 7) % 1000} ms` });
    }
  }
  return out;
}

interface Workload {
  store: TaskStore;
  prefix: string;
  ids: string[];
  /** Each task's events as the relay reads them from Redis. */
  events: Map<string, AgentEvent[]>;
  total: number;
  bytes: number;
}

/** Finished tasks with their whole event streams in Redis, and their entries in the relay's task list. */
async function prepare(redis: Redis, options: ArchiveBenchOptions): Promise<Workload> {
  const prefix = uniquePrefix('bench-archive');
  const store = new TaskStore(redis, redisKeys(prefix));
  const ids: string[] = [];
  const events = new Map<string, AgentEvent[]>();
  const work = agentEvents(options.eventsPerTask);
  let total = 0;
  let bytes = 0;
  for (let t = 0; t < options.tasks; t++) {
    const id = newTaskId();
    await store.createAndAnnounce({ id, repo: 'demo/hello', prompt: 'fix the flaky login test', team: 'default', source: 'api' });
    await store.transition(id, 'starting');
    await store.transition(id, 'running');
    for (let i = 0; i < work.length; i += 500) await store.append(id, work.slice(i, i + 500));
    await store.transition(id, 'succeeded', { summary: 'done' });
    const stream = await store.readEvents(id, 0, 1_000_000);
    events.set(id, stream);
    ids.push(id);
    total += stream.length;
    bytes += stream.reduce((sum, e) => sum + Buffer.byteLength(JSON.stringify(e)) + 1, 0);
  }
  return { store, prefix, ids, events, total, bytes };
}

const jsonl = (events: AgentEvent[]) => events.map((e) => `${JSON.stringify(e)}\n`).join('');

/**
 * The same bytes as the relay's chunks (each task's stream in pieces of `RELAY_BATCH` events), one
 * `PutObject` each; `inFlight` tasks at a time, each task's pieces one after another.
 */
async function rawPutLoop(client: S3Client, s3: TestS3, w: Workload, inFlight: number): Promise<number> {
  const bodies = w.ids.map((id) => {
    const events = w.events.get(id) ?? [];
    const out: string[] = [];
    for (let i = 0; i < events.length; i += RELAY_BATCH) out.push(jsonl(events.slice(i, i + RELAY_BATCH)));
    return { id, out };
  });
  const round = uniquePrefix('raw');
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (let task = bodies[next++]; task; task = bodies[next++]) {
        for (const [i, body] of task.out.entries()) {
          await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${round}/${task.id}/${i}.jsonl`, Body: body, ContentType: 'application/x-ndjson' }));
        }
      }
    }),
  );
  return performance.now() - started;
}

function relayConfig(redisUrl: string, w: Workload, s3: TestS3, dataDir: string): Config {
  return loadConfig({
    REDIS_URL: redisUrl,
    AGENTQ_REDIS_PREFIX: w.prefix,
    AGENTQ_DATA_DIR: dataDir,
    AGENTQ_RELAY_CONSUMER: 'bench',
    AGENTQ_RELAY_PORT: '0',
    ...s3.env(uniquePrefix('relay')),
  });
}

/** A log relay from start until every task is archived (chunks, then `events.jsonl` and `task.json`). */
async function relayRun(redisUrl: string, w: Workload, s3: TestS3, dataDir: string): Promise<number> {
  const registry = new Registry();
  const started = performance.now();
  const relay = startRelay({ config: relayConfig(redisUrl, w, s3, dataDir), logger: createLogger({ service: 'bench-relay', level: 'warn' }), registry });
  try {
    await waitFor(
      async () => {
        const finished = (await registry.getSingleMetric('agentq_relay_tasks_finished_total')?.get())?.values[0]?.value ?? 0;
        return finished >= w.ids.length;
      },
      { timeoutMs: 300_000, intervalMs: 5, what: 'the relay archiving every task' },
    );
    return performance.now() - started;
  } finally {
    await relay.close();
  }
}

/**
 * The archive alone (no Redis, no relay), as it is written for a task the relay follows while it
 * runs: the same batches through `append` (a chunk each), then `writeTask` (the whole
 * `events.jsonl` again), one task after another.
 */
async function archiveRun(redisUrl: string, w: Workload, s3: TestS3, dataDir: string): Promise<number> {
  const archive = openTranscriptArchive(relayConfig(redisUrl, w, s3, dataDir));
  const records = await Promise.all(w.ids.map((id) => w.store.require(id)));
  const started = performance.now();
  for (const [t, id] of w.ids.entries()) {
    const events = w.events.get(id) ?? [];
    for (let i = 0; i < events.length; i += RELAY_BATCH) await archive.append(id, events.slice(i, i + RELAY_BATCH));
    await archive.writeTask(records[t] as NonNullable<(typeof records)[number]>);
  }
  const ms = performance.now() - started;
  archive.close?.();
  return ms;
}

const rate = (events: number, ms: number) => (events / ms) * 1000;
const row = (name: string, events: number, bytes: number, ms: number) =>
  `    ${name.padEnd(26)} ${rate(events, ms).toFixed(0).padStart(7)} events/s  ${((bytes / ms) * 1000 / 1024 / 1024).toFixed(1).padStart(5)} MiB/s  (${ms.toFixed(0)} ms)`;

/**
 * The log relay archiving finished tasks (a relay catching up: it replays each finished task's
 * stream, one task after another, reading `RELAY_BATCH` events at a time, and writes the task's
 * `events.jsonl` once, then `task.json`) into an S3-compatible server (s3rver, its own process)
 * against a raw `PutObject` loop of the same bytes, in objects of `RELAY_BATCH` events, on the same
 * server, one request in flight as the relay has, in alternating rounds. Also: the archive alone
 * as it writes a task followed while it runs (a chunk per batch, then the whole `events.jsonl`:
 * every byte twice), and the raw loop with every task's loop at once (what the server takes).
 */
export async function benchArchive(options: ArchiveBenchOptions): Promise<void> {
  const [redis, s3, data] = await Promise.all([startTestRedis({ private: true }), startTestS3(), makeTempDir('agentq-bench-archive-')]);
  const client = new Redis(redis.url, { maxRetriesPerRequest: null });
  const s3Client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: TEST_S3_KEYS, requestChecksumCalculation: 'WHEN_REQUIRED' });
  try {
    // warm-up: the SDK, the relay and the server, on a small workload
    const warm = await prepare(client, { ...options, tasks: 2, eventsPerTask: 400 });
    await rawPutLoop(s3Client, s3, warm, 1);
    await relayRun(redis.url, warm, s3, data.path);
    await archiveRun(redis.url, await prepare(client, { ...options, tasks: 2, eventsPerTask: 400 }), s3, data.path);

    console.log(
      `archive: ${options.tasks} finished tasks of ${options.eventsPerTask} agent events each, chunks of ${RELAY_BATCH} events, into s3rver on 127.0.0.1; ${options.rounds} rounds, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    const ratios: number[] = [];
    const archiveRatios: number[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      const w = await prepare(client, options);
      const rawMs = await rawPutLoop(s3Client, s3, w, 1);
      const relayMs = await relayRun(redis.url, w, s3, data.path);
      const archiveMs = await archiveRun(redis.url, await prepare(client, options), s3, data.path);
      const parallelMs = await rawPutLoop(s3Client, s3, w, options.tasks);
      ratios.push(rawMs / relayMs);
      archiveRatios.push(rawMs / archiveMs);
      console.log(`  round ${round}: ${w.total} events, ${(w.bytes / 1024 / 1024).toFixed(1)} MiB; ratio relay/raw ${(rawMs / relayMs).toFixed(2)}, archive live path/raw ${(rawMs / archiveMs).toFixed(2)}`);
      console.log(row('raw PutObject loop', w.total, w.bytes, rawMs));
      console.log(row('log relay → S3 archive', w.total, w.bytes, relayMs));
      console.log(row('archive, live path', w.total, w.bytes, archiveMs));
      console.log(row(`raw loop, ${options.tasks} at once`, w.total, w.bytes, parallelMs));
    }
    console.log(`  median of ${options.rounds} rounds: ratio relay/raw ${median(ratios).toFixed(2)} (goal ≥ 0.5), archive live path/raw ${median(archiveRatios).toFixed(2)}`);
  } finally {
    s3Client.destroy();
    client.disconnect();
    await s3.remove();
    await redis.stop();
    await data.remove();
  }
}
