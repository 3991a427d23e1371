import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createLogger,
  loadConfig,
  newTaskId,
  type AgentEvent,
  type AgentEventInput,
  type Config,
  type Logger,
  type RedisKeys,
  type TaskState,
  type TaskStore,
  type TranscriptArchive,
} from '@agentq/shared';
import { startTestRedis, waitFor, type TestRedis } from '@agentq/shared/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const RELAY_MAIN = 'services/log-relay/src/main.ts';

export interface RelayEnvOptions {
  redisUrl: string;
  prefix: string;
  dataDir: string;
  consumer: string;
  claimIdleMs?: number;
  eventsTtlSec?: number;
  /** More settings (e.g. an `s3://` archive). */
  env?: Record<string, string>;
}

export function relayEnv(options: RelayEnvOptions): Record<string, string> {
  return {
    REDIS_URL: options.redisUrl,
    AGENTQ_REDIS_PREFIX: options.prefix,
    AGENTQ_DATA_DIR: options.dataDir,
    AGENTQ_RELAY_CONSUMER: options.consumer,
    AGENTQ_RELAY_CLAIM_IDLE_MS: String(options.claimIdleMs ?? 30_000),
    AGENTQ_EVENTS_TTL_SEC: String(options.eventsTtlSec ?? 3600),
    AGENTQ_RELAY_PORT: '0',
    AGENTQ_HOST: '127.0.0.1',
    AGENTQ_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'info',
    AGENTQ_SHUTDOWN_TIMEOUT_MS: '10000',
    ...options.env,
  };
}

export function relayConfig(options: RelayEnvOptions): Config {
  return loadConfig(relayEnv(options));
}

export function testLogger(): Logger {
  return createLogger({ service: 'log-relay-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
}

/** Creates a task as the ingress does: the record, then its entry in the relay's task list. */
export async function submitTask(store: TaskStore, redis: Redis, keys: RedisKeys): Promise<string> {
  const id = newTaskId();
  expect(await store.create({ id, repo: 'demo/hello', prompt: 'add a file', team: 'default', source: 'api' })).toBe(true);
  await redis.xadd(keys.relayTasks, '*', 'taskId', id);
  return id;
}

export function messages(count: number, from = 0): AgentEventInput[] {
  return Array.from({ length: count }, (_, i) => ({ kind: 'agent.message', text: `message ${from + i + 1}` }));
}

export interface Writer {
  stop(): Promise<void>;
}

/**
 * Appends 3 events every `pauseMs`, as a running agent does, until stopped (or until the test's
 * cleanups run).
 */
export function startWriter(store: TaskStore, id: string, cleanups: (() => Promise<unknown>)[], pauseMs = 3): Writer {
  let stopped = false;
  let written = 0;
  const loop = (async () => {
    while (!stopped) {
      expect(await store.append(id, messages(3, written))).toBeDefined();
      written += 3;
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  })();
  cleanups.push(async () => {
    stopped = true;
    await loop.catch(() => {});
  });
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** Moves a task to running, as the dispatcher does. */
export async function startTask(store: TaskStore, id: string): Promise<void> {
  expect(await store.transition(id, 'starting', { sandboxId: `sb-${id}` })).toMatchObject({ ok: true });
  expect(await store.transition(id, 'running', { startedAt: new Date().toISOString() })).toMatchObject({ ok: true });
}

/** Appends `total` events in batches of `batch`, pausing `pauseMs` between batches. */
export async function appendEvents(store: TaskStore, id: string, total: number, batch: number, pauseMs = 0): Promise<void> {
  for (let written = 0; written < total; written += batch) {
    const count = Math.min(batch, total - written);
    expect(await store.append(id, messages(count, written))).toBeDefined();
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
}

export async function finishTask(store: TaskStore, id: string, state: TaskState = 'succeeded'): Promise<void> {
  expect(
    await store.transition(id, state, { summary: 'done', costUsd: 0.01, turns: 3, exitCode: state === 'succeeded' ? 0 : 1 }),
  ).toMatchObject({ ok: true });
}

/** Last seq in the archived transcript, read from the store each time (without touching it). */
export async function archivedSeq(archive: TranscriptArchive, id: string): Promise<number> {
  const events = await archive.readEvents(id);
  return events[events.length - 1]?.seq ?? 0;
}

/** Every event of the task's Redis stream. */
export async function redisEvents(store: TaskStore, id: string): Promise<AgentEvent[]> {
  const out: AgentEvent[] = [];
  for (;;) {
    const page = await store.readEvents(id, out.length === 0 ? 0 : (out[out.length - 1]?.seq ?? 0), 1000);
    if (page.length === 0) return out;
    out.push(...page);
  }
}

/** Waits for task.json, then checks the transcript against Redis: seq 1..N, identical, once each. */
export async function expectArchived(
  store: TaskStore,
  archive: TranscriptArchive,
  redis: Redis,
  id: string,
  options: { timeoutMs?: number; ttlSec?: number } = {},
): Promise<AgentEvent[]> {
  await waitFor(() => archive.readTask(id), { timeoutMs: options.timeoutMs ?? 10_000, what: `task.json of ${id}` });
  const stored = await archive.readEvents(id);
  const expected = await redisEvents(store, id);
  expect(stored.map((e) => e.seq)).toEqual(expected.map((_, i) => i + 1));
  expect(stored).toEqual(expected);
  const record = await store.require(id);
  expect(await archive.readTask(id)).toEqual(record);
  expect(record.lastSeq).toBe(expected.length);
  // the stream gets its TTL once task.json is written: a moment after it appears
  const ttl = await waitFor(
    async () => {
      const left = await redis.ttl(store.keys.events(id));
      return left > 0 ? left : undefined;
    },
    { timeoutMs: 5000, what: `a TTL on the event stream of ${id}` },
  );
  expect(ttl).toBeLessThanOrEqual(options.ttlSec ?? 3600);
  return stored;
}

export interface RelayProcess {
  child: ChildProcess;
  /** Port of the ops server, once it listens. */
  port: Promise<number>;
  exited: Promise<number | null>;
  output(): string;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/** Runs the relay as `node --import tsx services/log-relay/src/main.ts` with the given environment. */
export function spawnRelay(env: Record<string, string>): RelayProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', RELAY_MAIN], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let resolvePort: (port: number) => void = () => {};
  const port = new Promise<number>((resolve) => {
    resolvePort = resolve;
  });
  let pending = '';
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === 'log relay ops server listening' && typeof entry.port === 'number') resolvePort(entry.port);
      } catch {
        // not a log line
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    port,
    exited,
    output: () => output,
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface RelayTestRedis {
  /** The Redis of the file's tests (set before the first test). */
  readonly url: string;
  /** A connection to it. */
  readonly client: Redis;
  /** Run after each test, last added first (relays, fakes, temp dirs). */
  readonly cleanups: (() => Promise<unknown>)[];
}

/** One Redis for a test file, with a connection and the per-test cleanups; registers the hooks. */
export function useRelayRedis(): RelayTestRedis {
  let redis: TestRedis | undefined;
  let client: Redis | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    redis = await startTestRedis();
    client = new Redis(redis.url);
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });
  return {
    get url() {
      if (!redis) throw new Error('Redis is not started yet');
      return redis.url;
    },
    get client() {
      if (!client) throw new Error('Redis is not started yet');
      return client;
    },
    cleanups,
  };
}

/** What `killRelayMidTask` needs: a task store and keys, the archive to watch, and a way to run relay processes. */
export interface RelayProcessSetup {
  store: TaskStore;
  keys: RedisKeys;
  archive: TranscriptArchive;
  spawn(consumer: string): RelayProcess;
}

/**
 * A running task whose relay is killed with SIGKILL mid-stream (after 100 events archived) while
 * the agent keeps writing, then started again; returns once the restarted relay caught up, the
 * writer stopped and the task finished in Redis.
 */
export async function killRelayMidTask(
  db: RelayTestRedis,
  s: RelayProcessSetup,
  timeoutMs = 15_000,
): Promise<{ id: string; second: RelayProcess; afterRestart: number }> {
  const id = await submitTask(s.store, db.client, s.keys);
  await startTask(s.store, id);
  const writer = startWriter(s.store, id, db.cleanups);
  const first = s.spawn('relay-k');
  await waitFor(async () => (await archivedSeq(s.archive, id)) >= 100, { timeoutMs, what: 'first relay archiving' });
  await first.kill('SIGKILL');
  // the agent keeps writing while no relay runs
  const redisSeq = async () => (await s.store.require(id)).lastSeq ?? 0;
  const atKill = await redisSeq();
  await waitFor(async () => (await redisSeq()) >= atKill + 150, { what: 'events written while the relay is down' });
  const second = s.spawn('relay-k');
  const afterRestart = await redisSeq();
  await waitFor(async () => (await archivedSeq(s.archive, id)) >= afterRestart, { timeoutMs, what: 'restarted relay catching up' });
  await writer.stop();
  await finishTask(s.store, id);
  return { id, second, afterRestart };
}
