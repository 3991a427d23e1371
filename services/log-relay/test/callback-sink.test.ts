import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FsTranscriptArchive, TaskStore, loadConfig, newTaskId, redisKeys, type Logger, type RedisKeys, type TaskRecord } from '@agentq/shared';
import { makeTempDir, uniquePrefix, waitFor } from '@agentq/shared/testing';
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
  delivery(id: string): Promise<Record<string, string>>;
}

const FAST = { retryBaseMs: 100, retryMaxMs: 2000, maxAttempts: 4, requestTimeoutMs: 3000, closeTimeoutMs: 3000 };

async function setup(): Promise<Setup> {
  const prefix = uniquePrefix('cb');
  const keys = redisKeys(prefix);
  const dir = await makeTempDir('agentq-callback-');
  cleanups.push(dir.remove);
  const receiver = await new Receiver().start();
  cleanups.push(() => receiver.close());
  const store = new TaskStore(db.client, keys);
  return {
    keys,
    store,
    archive: FsTranscriptArchive.forDataDir(dir.path),
    receiver,
    relay(options = {}) {
      const config = loadConfig({
        ...relayEnv({ redisUrl: db.url, prefix, dataDir: dir.path, consumer: options.consumer ?? 'relay-1' }),
        AGENTQ_CALLBACK_SECRET: CALLBACK_SECRET,
        AGENTQ_CALLBACK_HOSTS: '127.0.0.1',
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
    delivery: (id) => db.client.hgetall(keys.callbackDelivery(id)),
  };
}

const gaps = (requests: Received[]) => requests.slice(1).map((r, i) => r.at - (requests[i]?.at ?? 0));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('completion callbacks', () => {
  it('POSTs the final record once, signed, with the delivery id; records the outcome; counts it', async () => {
    const s = await setup();
    const registry = new Registry();
    s.relay({ registry });
    const id = await s.submit();
    await s.run(id);
    await waitFor(() => s.acknowledged(), { what: 'task acknowledged' });
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

    expect(await s.delivery(id)).toMatchObject({ outcome: 'delivered', status: '200', attempts: '1' });
    const ttl = await db.client.ttl(s.keys.callbackDelivery(id));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3600);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/agentq_relay_callbacks_total\{outcome="delivered"\} 1\b/);
    expect(metrics).toMatch(/agentq_relay_callbacks_total\{outcome="failed"\} 0\b/);
    expect(metrics).toMatch(/agentq_relay_callbacks_total\{outcome="retried"\} 0\b/);
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
    expect(await s.delivery(id)).toEqual({});
  });

  it('retries after a 503 and after network errors, with backoff, until a 2xx', async () => {
    const s = await setup();
    const registry = new Registry();
    s.relay({ registry });
    const id = await s.submit();
    s.receiver.answer({ status: 503 }, { status: 502 });
    await s.run(id);
    await waitFor(() => s.acknowledged(), { what: 'task acknowledged' });
    expect(s.receiver.requests).toHaveLength(3);
    const [first, second] = gaps(s.receiver.requests);
    expect(first).toBeGreaterThanOrEqual(90);
    expect(second).toBeGreaterThanOrEqual(190);
    for (const request of s.receiver.requests) {
      expect(request.headers['x-agentq-delivery']).toBe(id);
      expect(verifySignature(request.headers['x-agentq-signature'], request.body, CALLBACK_SECRET)).toBeGreaterThan(0);
    }
    expect(await s.delivery(id)).toMatchObject({ outcome: 'delivered', attempts: '3' });
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/agentq_relay_callbacks_total\{outcome="retried"\} 2\b/);
    expect(metrics).toMatch(/agentq_relay_callbacks_total\{outcome="delivered"\} 1\b/);

    // nobody listening: a network error is retried too
    const gone = await setup();
    gone.relay();
    const unreachable = await gone.submit(`${s.receiver.url}/hooks`);
    await s.receiver.close();
    await gone.run(unreachable);
    await waitFor(() => gone.acknowledged(), { what: 'task acknowledged after the last attempt' });
    expect(await gone.delivery(unreachable)).toMatchObject({ outcome: 'failed', status: 'network_error', attempts: '4' });
  });

  it('honours Retry-After of a 429, up to the longest wait', async () => {
    const s = await setup();
    s.relay({ callback: { ...FAST, retryBaseMs: 50, retryMaxMs: 1500 } });
    const id = await s.submit();
    s.receiver.answer({ status: 429, headers: { 'retry-after': '1' } }, { status: 429, headers: { 'retry-after': '3600' } });
    await s.run(id);
    await waitFor(() => s.acknowledged(), { what: 'task acknowledged' });
    expect(s.receiver.requests).toHaveLength(3);
    const [first, second] = gaps(s.receiver.requests);
    expect(first).toBeGreaterThanOrEqual(950);
    expect(second).toBeGreaterThanOrEqual(1450);
    expect(second).toBeLessThan(3000);
    expect(await s.delivery(id)).toMatchObject({ outcome: 'delivered', attempts: '3' });
  });

  it('does not retry a 400 or a redirect: the task is acknowledged, the failure logged without the secret', async () => {
    const s = await setup();
    const registry = new Registry();
    const { logger, lines } = captureLogger();
    s.relay({ registry, logger });
    const refused = await s.submit();
    s.receiver.answer({ status: 400 });
    await s.run(refused);
    await waitFor(() => s.acknowledged(), { what: 'refused task acknowledged' });
    expect(await s.delivery(refused)).toMatchObject({ outcome: 'failed', status: '400', attempts: '1' });

    const redirected = await s.submit();
    s.receiver.answer({ status: 307, headers: { location: `${s.receiver.url}/elsewhere` } });
    await s.run(redirected);
    await waitFor(() => s.acknowledged(), { what: 'redirected task acknowledged' });
    expect(await s.delivery(redirected)).toMatchObject({ outcome: 'failed', status: '307', attempts: '1' });
    await sleep(500);
    expect(s.receiver.requests.map((r) => r.path)).toEqual([`/hooks/agentq?task=${refused}`, `/hooks/agentq?task=${redirected}`]);
    expect(await registry.metrics()).toMatch(/agentq_relay_callbacks_total\{outcome="failed"\} 2\b/);
    const failures = lines().filter((l) => l.code === 'RELAY_CALLBACK_FAILED');
    expect(failures.map((l) => [l.taskId, l.status, l.host])).toEqual([
      [refused, '400', '127.0.0.1'],
      [redirected, '307', '127.0.0.1'],
    ]);
    expect(JSON.stringify(lines())).not.toContain(CALLBACK_SECRET);
  });

  it('gives up after the last attempt: logged with the task id and the last status; the task is acknowledged', async () => {
    const s = await setup();
    const registry = new Registry();
    const { logger, lines } = captureLogger();
    s.relay({ registry, logger });
    const id = await s.submit();
    s.receiver.answer(...Array.from({ length: 10 }, () => ({ status: 503 })));
    await s.run(id);
    await waitFor(() => s.acknowledged(), { what: 'task acknowledged' });
    expect(s.receiver.requests).toHaveLength(FAST.maxAttempts);
    expect(await s.delivery(id)).toMatchObject({ outcome: 'failed', status: '503', attempts: String(FAST.maxAttempts) });
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
    await waitFor(() => s.acknowledged(), { what: 'task acknowledged by relay a' });
    expect(s.receiver.requests).toHaveLength(1);
    await first.close();
    // the task's list entry comes back (as when a relay dies after the callback, before its acknowledgement)
    await db.client.xadd(s.keys.relayTasks, '*', 'taskId', id);
    const second = s.relay({ consumer: 'relay-b' });
    await waitFor(() => s.acknowledged(), { what: 'task acknowledged by relay b' });
    expect(second.ownedTasks()).toEqual([]);
    await sleep(300);
    expect(s.receiver.requests).toHaveLength(1);
  });

  it('continues the attempts of a relay that stopped while waiting to retry, without starting the count again', async () => {
    const s = await setup();
    const timings = { ...FAST, retryBaseMs: 1500 };
    const first = s.relay({ consumer: 'relay-a', callback: timings });
    const id = await s.submit();
    s.receiver.answer({ status: 503 });
    await s.run(id);
    await waitFor(() => s.receiver.requests.length === 1, { what: 'first attempt' });
    await waitFor(async () => (await s.delivery(id)).nextAt, { what: 'retry scheduled' });
    await first.close();
    expect(await s.acknowledged()).toBe(false);
    s.relay({ consumer: 'relay-b', callback: timings });
    await waitFor(() => s.acknowledged(), { what: 'task acknowledged by relay b' });
    expect(s.receiver.requests).toHaveLength(2);
    // the second relay waited out the rest of the backoff the first one had scheduled
    expect(gaps(s.receiver.requests)[0]).toBeGreaterThanOrEqual(1400);
    expect(await s.delivery(id)).toMatchObject({ outcome: 'delivered', attempts: '2' });
  });

  it('never holds the relay up: other tasks finish while a callback is in flight', async () => {
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
    await waitFor(() => s.receiver.requests.length === 2, { what: 'second callback sent' });
    expect(Date.now() - startedAt).toBeLessThan(2000);
    expect(await s.delivery(slow)).not.toHaveProperty('outcome');
    expect(await s.delivery(other)).toMatchObject({ outcome: 'delivered' });
    await waitFor(() => s.acknowledged(), { what: 'every task acknowledged' });
    expect(await s.delivery(slow)).toMatchObject({ outcome: 'delivered', attempts: '1' });
    expect(s.receiver.requests.map((r) => r.headers['x-agentq-delivery'])).toEqual([slow, other]);
  });

  it('checks the host again before sending: a callbackUrl the settings do not allow is not called', async () => {
    const s = await setup();
    s.relay();
    const id = await s.submit(s.receiver.url.replace('127.0.0.1', 'localhost'));
    await s.run(id);
    await waitFor(() => s.acknowledged(), { what: 'task acknowledged' });
    expect(s.receiver.requests).toHaveLength(0);
    expect(await s.delivery(id)).toMatchObject({ outcome: 'failed', status: 'not_allowed' });
  });
});
