import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { lookup } from 'node:dns/promises';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { FsTranscriptArchive, TaskStore, loadConfig, newTaskId, queues, redisKeys, type CallbackJob, type Logger, type RedisKeys, type TaskRecord } from '@agentq/shared';
import { makeTempDir, uniquePrefix, waitFor } from '@agentq/shared/testing';
import { Queue, type JobState } from 'bullmq';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { startRelay, type Relay, type RelayDeps } from '../src/index.js';
import { captureLogger } from './slack-support.js';
import { appendEvents, finishTask, relayEnv, startTask, testLogger, useRelayRedis } from './support.js';

const CALLBACK_SECRET = 'relay-test-callback-secret-0123456789abcdef';

interface Received {
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Answer {
  status: number;
  headers?: Record<string, string>;
  /** Holds the answer back this long. */
  delayMs?: number;
}

/** A callback receiver on 127.0.0.1: records every request, answers from a script (then 200). */
class Receiver {
  readonly requests: Received[] = [];
  /** TCP connections accepted, requests or not. */
  connections = 0;
  private readonly script: Answer[] = [];
  private readonly server: Server;
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        this.requests.push({ at: Date.now(), path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        const answer = this.script.shift() ?? { status: 200 };
        setTimeout(() => {
          res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
          res.end('ok');
        }, answer.delayMs ?? 0);
      });
    });
  }

  async start(): Promise<this> {
    this.server.on('connection', () => {
      this.connections += 1;
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  answer(...answers: Answer[]): void {
    this.script.push(...answers);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Checks `X-Agentq-Signature` as a receiver would, with node:crypto only. */
function verifySignature(header: string | string[] | undefined, body: string, secret: string): number {
  const match = typeof header === 'string' ? /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header) : null;
  if (!match?.[1] || !match[2]) throw new Error(`malformed signature header ${String(header)}`);
  const expected = createHmac('sha256', secret).update(`${match[1]}.${body}`, 'utf8').digest();
  if (!timingSafeEqual(expected, Buffer.from(match[2], 'hex'))) throw new Error('signature does not match');
  return Number(match[1]);
}

const db = useRelayRedis();
const { cleanups } = db;

interface RelayOptions {
  consumer?: string;
  registry?: Registry;
  logger?: Logger;
  callback?: RelayDeps['callback'];
  /** `AGENTQ_CALLBACK_HOSTS` (default 127.0.0.1:*, any port). */
  hosts?: string;
}

/** A task's job in the `callbacks` queue, as BullMQ keeps it. */
interface CallbackJobView {
  id: string | undefined;
  state: JobState | 'unknown';
  attempts: number;
  data: unknown;
  returnvalue: unknown;
  options: { attempts?: number };
}

interface Setup {
  keys: RedisKeys;
  store: TaskStore;
  archive: FsTranscriptArchive;
  receiver: Receiver;
  relay(options?: RelayOptions): Relay;
  /** Creates a task as the ingress does, with `callbackUrl` (a path of the receiver) unless null. */
  submit(callbackUrl?: string | null): Promise<string>;
  /** Runs a submitted task to its end, as the dispatcher does. */
  run(id: string): Promise<void>;
  acknowledged(): Promise<boolean>;
  job(id: string): Promise<CallbackJobView | undefined>;
  /** Waits until the task's job is in `state`. */
  jobIn(id: string, state: JobState): Promise<CallbackJobView>;
}

const FAST = { retryBaseMs: 100, retryMaxMs: 2000, retryJitter: 0, maxAttempts: 4, requestTimeoutMs: 3000, closeTimeoutMs: 3000 };

async function setup(): Promise<Setup> {
  const prefix = uniquePrefix('cb');
  const keys = redisKeys(prefix);
  const dir = await makeTempDir('agentq-callback-');
  cleanups.push(dir.remove);
  const receiver = await new Receiver().start();
  cleanups.push(() => receiver.close());
  const store = new TaskStore(db.client, keys);
  const queue = new Queue<CallbackJob>(queues.callbacks.name, { connection: db.client, prefix: keys.bullPrefix });
  cleanups.push(() => queue.close());
  const job = async (id: string): Promise<CallbackJobView | undefined> => {
    // the state first: a job read after it is at least as far along (completing is one atomic step)
    const state = await queue.getJobState(id);
    const found = await queue.getJob(id);
    if (!found) return undefined;
    return { id: found.id, state, attempts: found.attemptsMade, data: found.data, returnvalue: found.returnvalue, options: found.opts };
  };
  return {
    keys,
    store,
    archive: FsTranscriptArchive.forDataDir(dir.path),
    receiver,
    relay(options = {}) {
      const config = loadConfig({
        ...relayEnv({ redisUrl: db.url, prefix, dataDir: dir.path, consumer: options.consumer ?? 'relay-1' }),
        AGENTQ_CALLBACK_SECRET: CALLBACK_SECRET,
        AGENTQ_CALLBACK_HOSTS: options.hosts ?? '127.0.0.1:*',
      });
      const relay = startRelay({ config, logger: options.logger ?? testLogger(), registry: options.registry, callback: options.callback ?? FAST });
      cleanups.push(() => relay.close());
      return relay;
    },
    async submit(callbackUrl) {
      const id = newTaskId();
      const url = callbackUrl === null ? undefined : (callbackUrl ?? `${receiver.url}/hooks/agentq?task=${id}`);
      expect(await store.create({ id, repo: 'demo/hello', prompt: 'add a file — café', team: 'default', source: 'api', callbackUrl: url })).toBe(true);
      await db.client.xadd(keys.relayTasks, '*', 'taskId', id);
      return id;
    },
    async run(id) {
      await startTask(store, id);
      await appendEvents(store, id, 5, 5);
      await finishTask(store, id);
    },
    async acknowledged() {
      const [pending] = (await db.client.xpending(keys.relayTasks, 'relay')) as [number];
      return pending === 0 && (await db.client.xlen(keys.relayTasks)) === 0;
    },
    job,
    jobIn: (id, state) =>
      waitFor(
        async () => {
          const view = await job(id);
          return view?.state === state ? view : undefined;
        },
        { what: `callback job ${state}` },
      ),
  };
}

const gaps = (requests: Received[]) => requests.slice(1).map((r, i) => r.at - (requests[i]?.at ?? 0));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('completion callbacks', () => {
  it('POSTs the final record once, signed, with the delivery id, from a job that holds only the task id; counts it', async () => {
    const s = await setup();
    const registry = new Registry();
    s.relay({ registry });
    const id = await s.submit();
    await s.run(id);
    await waitFor(() => s.acknowledged(), { what: 'task acknowledged' });
    const job = await s.jobIn(id, 'completed');
    expect(job).toMatchObject({ id, attempts: 1, data: { taskId: id }, returnvalue: { status: '200' }, options: { attempts: FAST.maxAttempts } });
    expect(JSON.stringify(job)).not.toContain(CALLBACK_SECRET);
    expect(s.receiver.requests).toHaveLength(1);
    const [request] = s.receiver.requests;
    if (!request) throw new Error('no request');
    expect(request.path).toBe(`/hooks/agentq?task=${id}`);
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['user-agent']).toBe('agentq');
    expect(request.headers['x-agentq-delivery']).toBe(id);
    const t = verifySignature(request.headers['x-agentq-signature'], request.body, CALLBACK_SECRET);
    expect(Math.abs(t - Date.now() / 1000)).toBeLessThan(60);
    expect(() => verifySignature(request.headers['x-agentq-signature'], request.body, 'another-secret-0123456789abcdef0123')).toThrow();
    const record = await s.store.require(id);
    expect(record).toMatchObject({ state: 'succeeded', summary: 'done', prompt: 'add a file — café' });
    const payload = JSON.parse(request.body) as { event: string; task: TaskRecord };
    expect(payload).toEqual({ event: 'task.finished', task: record });
    expect(await s.archive.readTask(id)).toEqual(record);
    expect(request.body).not.toContain(CALLBACK_SECRET);

    const metrics = await registry.metrics();
    expect(metrics).toMatch(/agentq_relay_callbacks_total\{outcome="delivered"\} 1\b/);
    expect(metrics).toMatch(/agentq_relay_callbacks_total\{outcome="failed"\} 0\b/);
    expect(metrics).toMatch(/agentq_relay_callbacks_total\{outcome="retried"\} 0\b/);
    // no hand-written delivery state beside the queue
    expect(await db.client.keys(`${s.keys.prefix}:callback:*`)).toEqual([]);
    await sleep(300);
    expect(s.receiver.requests).toHaveLength(1);
  });

  it('sends nothing for a task without callbackUrl', async () => {
    const s = await setup();
    s.relay();
    const id = await s.submit(null);
    await s.run(id);
    await waitFor(() => s.acknowledged(), { what: 'task acknowledged' });
    expect(await s.archive.readTask(id)).toMatchObject({ state: 'succeeded' });
    await sleep(200);
    expect(s.receiver.requests).toHaveLength(0);
    expect(await s.job(id)).toBeUndefined();
  });

  it('retries after a 503 and after network errors, with backoff, until a 2xx', async () => {
    const s = await setup();
    const registry = new Registry();
    s.relay({ registry });
    const id = await s.submit();
    s.receiver.answer({ status: 503 }, { status: 502 });
    await s.run(id);
    expect(await s.jobIn(id, 'completed')).toMatchObject({ attempts: 3, returnvalue: { status: '200' } });
    expect(s.receiver.requests).toHaveLength(3);
    const [first, second] = gaps(s.receiver.requests);
    expect(first).toBeGreaterThanOrEqual(90);
    expect(second).toBeGreaterThanOrEqual(190);
    for (const request of s.receiver.requests) {
      expect(request.headers['x-agentq-delivery']).toBe(id);
      expect(verifySignature(request.headers['x-agentq-signature'], request.body, CALLBACK_SECRET)).toBeGreaterThan(0);
    }
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/agentq_relay_callbacks_total\{outcome="retried"\} 2\b/);
    expect(metrics).toMatch(/agentq_relay_callbacks_total\{outcome="delivered"\} 1\b/);

    // nobody listening: a network error is retried too
    const gone = await setup();
    const { logger, lines } = captureLogger();
    gone.relay({ logger });
    const unreachable = await gone.submit(`${s.receiver.url}/hooks`);
    await s.receiver.close();
    await gone.run(unreachable);
    expect(await gone.jobIn(unreachable, 'failed')).toMatchObject({ attempts: FAST.maxAttempts });
    expect(lines().filter((l) => l.code === 'RELAY_CALLBACK_RETRY').map((l) => l.status)).toEqual(Array.from({ length: FAST.maxAttempts - 1 }, () => 'network_error'));
    expect(lines().filter((l) => l.code === 'RELAY_CALLBACK_FAILED')).toEqual([
      expect.objectContaining({ taskId: unreachable, status: 'network_error', attempts: FAST.maxAttempts }),
    ]);
    await waitFor(() => gone.acknowledged(), { what: 'task acknowledged' });
  });

  it('honours Retry-After of a 429, up to the longest wait', async () => {
    const s = await setup();
    s.relay({ callback: { ...FAST, retryBaseMs: 50, retryMaxMs: 1500 } });
    const id = await s.submit();
    s.receiver.answer({ status: 429, headers: { 'retry-after': '1' } }, { status: 429, headers: { 'retry-after': '3600' } });
    await s.run(id);
    expect(await s.jobIn(id, 'completed')).toMatchObject({ attempts: 3 });
    expect(s.receiver.requests).toHaveLength(3);
    const [first, second] = gaps(s.receiver.requests);
    expect(first).toBeGreaterThanOrEqual(950);
    expect(second).toBeGreaterThanOrEqual(1450);
    expect(second).toBeLessThan(3000);
  });

  it('does not retry a 400 or a redirect: failed for good, the failure logged without the secret', async () => {
    const s = await setup();
    const registry = new Registry();
    const { logger, lines } = captureLogger();
    s.relay({ registry, logger });
    const refused = await s.submit();
    s.receiver.answer({ status: 400 });
    await s.run(refused);
    expect(await s.jobIn(refused, 'failed')).toMatchObject({ attempts: 1 });

    const redirected = await s.submit();
    s.receiver.answer({ status: 307, headers: { location: `${s.receiver.url}/elsewhere` } });
    await s.run(redirected);
    expect(await s.jobIn(redirected, 'failed')).toMatchObject({ attempts: 1 });
    await waitFor(() => s.acknowledged(), { what: 'both tasks acknowledged' });
    await sleep(500);
    expect(s.receiver.requests.map((r) => r.path)).toEqual([`/hooks/agentq?task=${refused}`, `/hooks/agentq?task=${redirected}`]);
    expect(await registry.metrics()).toMatch(/agentq_relay_callbacks_total\{outcome="failed"\} 2\b/);
    const failures = lines().filter((l) => l.code === 'RELAY_CALLBACK_FAILED');
    expect(failures.map((l) => [l.taskId, l.status, l.host, l.attempts])).toEqual([
      [refused, '400', '127.0.0.1', 1],
      [redirected, '307', '127.0.0.1', 1],
    ]);
    expect(lines().filter((l) => l.code === 'RELAY_CALLBACK_RETRY')).toEqual([]);
    expect(JSON.stringify(lines())).not.toContain(CALLBACK_SECRET);
  });

  it('gives up after the last attempt: logged with the task id and the last status', async () => {
    const s = await setup();
    const registry = new Registry();
    const { logger, lines } = captureLogger();
    s.relay({ registry, logger });
    const id = await s.submit();
    s.receiver.answer(...Array.from({ length: 10 }, () => ({ status: 503 })));
    await s.run(id);
    expect(await s.jobIn(id, 'failed')).toMatchObject({ attempts: FAST.maxAttempts });
    expect(s.receiver.requests).toHaveLength(FAST.maxAttempts);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/agentq_relay_callbacks_total\{outcome="retried"\} 3\b/);
    expect(metrics).toMatch(/agentq_relay_callbacks_total\{outcome="failed"\} 1\b/);
    expect(lines().filter((l) => l.code === 'RELAY_CALLBACK_FAILED')).toEqual([
      expect.objectContaining({ taskId: id, status: '503', attempts: FAST.maxAttempts, level: 40 }),
    ]);
    expect(JSON.stringify(lines())).not.toContain(CALLBACK_SECRET);
    await sleep(300);
    expect(s.receiver.requests).toHaveLength(FAST.maxAttempts);
  });

  it('sends nothing again once delivered: a second relay that gets the task again only acknowledges it', async () => {
    const s = await setup();
    const first = s.relay({ consumer: 'relay-a' });
    const id = await s.submit();
    await s.run(id);
    await s.jobIn(id, 'completed');
    await waitFor(() => s.acknowledged(), { what: 'task acknowledged by relay a' });
    expect(s.receiver.requests).toHaveLength(1);
    await first.close();
    // the task's list entry comes back (as when a relay dies after enqueueing, before its acknowledgement)
    await db.client.xadd(s.keys.relayTasks, '*', 'taskId', id);
    const second = s.relay({ consumer: 'relay-b' });
    await waitFor(() => s.acknowledged(), { what: 'task acknowledged by relay b' });
    expect(second.ownedTasks()).toEqual([]);
    await sleep(300);
    expect(s.receiver.requests).toHaveLength(1);
    expect(await s.job(id)).toMatchObject({ state: 'completed', attempts: 1 });
  });

  it('continues the attempts of a relay that stopped while waiting to retry, without starting the count again', async () => {
    const s = await setup();
    const timings = { ...FAST, retryBaseMs: 1500 };
    const first = s.relay({ consumer: 'relay-a', callback: timings });
    const id = await s.submit();
    s.receiver.answer({ status: 503 });
    await s.run(id);
    await waitFor(() => s.receiver.requests.length === 1, { what: 'first attempt' });
    expect(await s.jobIn(id, 'delayed')).toMatchObject({ attempts: 1 });
    await first.close();
    // the callback does not hold the task back: it is acknowledged, its job waits in the queue
    expect(await s.acknowledged()).toBe(true);
    s.relay({ consumer: 'relay-b', callback: timings });
    expect(await s.jobIn(id, 'completed')).toMatchObject({ attempts: 2 });
    expect(s.receiver.requests).toHaveLength(2);
    // the second relay waited out the rest of the backoff the first one had scheduled
    expect(gaps(s.receiver.requests)[0]).toBeGreaterThanOrEqual(1400);
  });

  it('never holds the relay up: tasks are acknowledged and other callbacks sent while one is in flight', async () => {
    const s = await setup();
    s.relay({ callback: { ...FAST, requestTimeoutMs: 5000 } });
    const slow = await s.submit();
    s.receiver.answer({ status: 200, delayMs: 2500 });
    await s.run(slow);
    await waitFor(() => s.receiver.requests.length === 1, { what: 'slow callback in flight' });
    const startedAt = Date.now();
    const plain = await s.submit(null);
    const other = await s.submit();
    await s.run(plain);
    await s.run(other);
    await waitFor(() => s.archive.readTask(plain), { what: 'plain task archived' });
    await s.jobIn(other, 'completed');
    await waitFor(() => s.acknowledged(), { what: 'every task acknowledged' });
    expect(Date.now() - startedAt).toBeLessThan(2000);
    expect(await s.job(slow)).toMatchObject({ state: 'active' });
    expect(await s.jobIn(slow, 'completed')).toMatchObject({ attempts: 1 });
    expect(s.receiver.requests.map((r) => r.headers['x-agentq-delivery'])).toEqual([slow, other]);
  });

  it('checks the host again before sending: a callbackUrl the settings do not allow is not called', async () => {
    const s = await setup();
    const { logger, lines } = captureLogger();
    s.relay({ logger });
    const id = await s.submit(s.receiver.url.replace('127.0.0.1', 'localhost'));
    await s.run(id);
    expect(await s.jobIn(id, 'failed')).toMatchObject({ attempts: 1 });
    expect(s.receiver.requests).toHaveLength(0);
    expect(lines().filter((l) => l.code === 'RELAY_CALLBACK_NOT_ALLOWED')).toEqual([expect.objectContaining({ taskId: id, reason: 'host_not_allowed' })]);
  });

  it('checks the host before every attempt: a host no longer allowed gets no retry', async () => {
    const s = await setup();
    const timings = { ...FAST, retryBaseMs: 1000 };
    const first = s.relay({ consumer: 'relay-a', callback: timings });
    const id = await s.submit();
    s.receiver.answer({ status: 503 });
    await s.run(id);
    await s.jobIn(id, 'delayed');
    await first.close();
    const { logger, lines } = captureLogger();
    s.relay({ consumer: 'relay-b', callback: timings, logger, hosts: 'hooks.example.com' });
    expect(await s.jobIn(id, 'failed')).toMatchObject({ attempts: 2 });
    expect(s.receiver.requests).toHaveLength(1);
    expect(lines().filter((l) => l.code === 'RELAY_CALLBACK_NOT_ALLOWED')).toEqual([expect.objectContaining({ taskId: id })]);
  });

  it('closes within its deadline with a request in flight: the job is handed back uncounted and sent by the next relay', async () => {
    const s = await setup();
    const timings = { ...FAST, requestTimeoutMs: 10_000, closeTimeoutMs: 300 };
    const first = s.relay({ consumer: 'relay-a', callback: timings });
    const id = await s.submit();
    s.receiver.answer({ status: 200, delayMs: 4000 });
    await s.run(id);
    await waitFor(() => s.receiver.requests.length === 1, { what: 'callback in flight' });
    expect(await first.ready()).toBe(true);
    const closing = Date.now();
    await first.close();
    expect(Date.now() - closing).toBeLessThan(2500);
    expect(await first.ready()).toBe(false);
    expect(await s.job(id)).toMatchObject({ state: 'waiting', attempts: 0 });
    s.relay({ consumer: 'relay-b', callback: timings });
    expect(await s.jobIn(id, 'completed')).toMatchObject({ attempts: 1 });
    expect(s.receiver.requests.map((r) => r.headers['x-agentq-delivery'])).toEqual([id, id]);
  });
});

/** The machine's own name when it resolves to a loopback or private address (it does on most machines: /etc/hosts), else undefined. */
async function localName(): Promise<string | undefined> {
  const name = hostname();
  if (!/^[a-z0-9.-]+$/i.test(name) || name.toLowerCase() === 'localhost') return undefined;
  const found = await lookup(name).catch(() => undefined);
  return found && /^(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|::1$|f[cd])/.test(found.address) ? name : undefined;
}

describe('completion callback addresses', () => {
  it('connects to localhost, a loopback host, through the checked lookup', async () => {
    const s = await setup();
    const port = new URL(s.receiver.url).port;
    s.relay({ hosts: `localhost:${port}` });
    const id = await s.submit(`http://localhost:${port}/hooks/agentq`);
    await s.run(id);
    expect(await s.jobIn(id, 'completed')).toMatchObject({ attempts: 1 });
    expect(s.receiver.requests.map((r) => r.headers['x-agentq-delivery'])).toEqual([id]);
  });

  it('refuses at connect time a host that resolves to a loopback or private address: no connection, no retry, RELAY_CALLBACK_ADDRESS_REFUSED', async (context) => {
    const name = await localName();
    if (name === undefined) {
      context.skip('this machine\'s host name does not resolve to a loopback or private address');
      return;
    }
    const s = await setup();
    const port = new URL(s.receiver.url).port;
    const { logger, lines } = captureLogger();
    // allowed by AGENTQ_CALLBACK_HOSTS, so only the address it resolves to when connecting stops it
    s.relay({ hosts: `${name}:${port}`, logger });
    const id = await s.submit(`https://${name}:${port}/hooks/agentq`);
    await s.run(id);
    expect(await s.jobIn(id, 'failed')).toMatchObject({ attempts: 1 });
    expect(s.receiver.connections).toBe(0);
    expect(s.receiver.requests).toHaveLength(0);
    const refused = lines().filter((l) => l.code === 'RELAY_CALLBACK_ADDRESS_REFUSED');
    expect(refused).toEqual([expect.objectContaining({ taskId: id, attempts: 1 })]);
    expect(['loopback', 'private']).toContain(refused[0]?.reason);
  });

  it('refuses a URL whose host is a loopback IP address other than 127.0.0.1 and ::1 before connecting, even when the host is allowed', async () => {
    const s = await setup();
    const port = new URL(s.receiver.url).port;
    const { logger, lines } = captureLogger();
    s.relay({ hosts: `127.0.0.2:${port}`, logger });
    const id = await s.submit(`https://127.0.0.2:${port}/hooks/agentq`);
    await s.run(id);
    expect(await s.jobIn(id, 'failed')).toMatchObject({ attempts: 1 });
    expect(s.receiver.connections).toBe(0);
    expect(lines().filter((l) => l.code === 'RELAY_CALLBACK_NOT_ALLOWED')).toEqual([expect.objectContaining({ taskId: id, reason: 'address' })]);
  });
});
