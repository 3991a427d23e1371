import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { TaskStore, loadConfig, openTranscriptArchive, redisKeys, type RedisKeys, type TranscriptArchive } from '@agentq/shared';
import { TEST_S3_KEYS, makeTempDir, startTestS3, uniquePrefix, waitFor, type TestS3 } from '@agentq/shared/testing';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../src/index.js';
import {
  archivedSeq,
  expectArchived,
  finishTask,
  killRelayMidTask,
  messages,
  relayConfig,
  relayEnv,
  spawnRelay,
  startTask,
  startWriter,
  submitTask,
  testLogger,
  useRelayRedis,
  type RelayProcess,
  type Writer,
} from './support.js';

const db = useRelayRedis();
const { cleanups } = db;
let s3: TestS3;
let raw: S3Client;

beforeAll(async () => {
  s3 = await startTestS3();
  raw = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: TEST_S3_KEYS });
});

afterAll(async () => {
  raw.destroy();
  await s3.remove();
});

interface Setup {
  prefix: string;
  keys: RedisKeys;
  store: TaskStore;
  dataDir: string;
  /** Key prefix in the bucket. */
  objects: string;
  /** A reader of the bucket, as the ingress opens it. */
  archive: TranscriptArchive;
  env: Record<string, string>;
  relay(consumer: string, options?: { registry?: Registry }): Relay;
  spawn(consumer: string, env?: Record<string, string>): RelayProcess;
}

async function setup(): Promise<Setup> {
  const prefix = uniquePrefix('relays3');
  const keys = redisKeys(prefix);
  const dir = await makeTempDir('agentq-relay-s3-');
  cleanups.push(dir.remove);
  const objects = `transcripts/${prefix}`;
  const env = s3.env(objects);
  const archive = openTranscriptArchive(loadConfig(env));
  cleanups.push(async () => archive.close?.());
  return {
    prefix,
    keys,
    store: new TaskStore(db.client, keys),
    dataDir: dir.path,
    objects,
    archive,
    env,
    relay(consumer, options = {}) {
      const relay = startRelay({
        config: relayConfig({ redisUrl: db.url, prefix, dataDir: dir.path, consumer, env }),
        logger: testLogger(),
        registry: options.registry,
        archiveCheckEveryMs: 500,
      });
      cleanups.push(() => relay.close());
      return relay;
    },
    spawn(consumer, extra = {}) {
      const relay = spawnRelay(relayEnv({ redisUrl: db.url, prefix, dataDir: dir.path, consumer, env: { ...env, ...extra } }));
      cleanups.push(() => relay.kill('SIGKILL'));
      return relay;
    },
  };
}

async function taskObjects(s: Setup, id: string): Promise<string[]> {
  const page = await raw.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${s.objects}/${id}/` }));
  return (page.Contents ?? []).map((o) => (o.Key ?? '').slice(`${s.objects}/${id}/`.length));
}

/** The seqs of the consolidated `events.jsonl` as stored, line by line (no merging). */
async function storedSeqs(s: Setup, id: string): Promise<number[]> {
  const reply = await raw.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${s.objects}/${id}/events.jsonl` }));
  const text = (await reply.Body?.transformToString()) ?? '';
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => (JSON.parse(l) as { seq: number }).seq);
}

/** Archived whole and exactly once: the reader's view equals Redis, and the stored lines are 1..N once each. */
async function expectExactlyOnce(s: Setup, id: string): Promise<number> {
  const events = await expectArchived(s.store, s.archive, db.client, id, { timeoutMs: 30_000 });
  expect(await taskObjects(s, id)).toEqual(['events.jsonl', 'task.json']);
  expect(await storedSeqs(s, id)).toEqual(events.map((_, i) => i + 1));
  return events.length;
}

const metric = async (registry: Registry, name: string) => {
  const match = new RegExp(`^${name} (\\d+)`, 'm').exec(await registry.metrics());
  return match ? Number(match[1]) : undefined;
};

describe('log relay with an S3 archive (s3rver)', () => {
  it('two relays on one Redis write chunks to one bucket at once: every task whole, once, in order; nothing on local disk', async () => {
    const s = await setup();
    const a = s.relay('relay-a');
    const b = s.relay('relay-b');
    const ids: string[] = [];
    const writers: Writer[] = [];
    for (let i = 0; i < 6; i++) {
      const id = await submitTask(s.store, db.client, s.keys);
      await startTask(s.store, id);
      ids.push(id);
      writers.push(startWriter(s.store, id, cleanups, 8));
      await new Promise((r) => setTimeout(r, 30));
    }
    await waitFor(() => a.ownedTasks().length > 0 && b.ownedTasks().length > 0 && a.ownedTasks().length + b.ownedTasks().length === 6, {
      timeoutMs: 15_000,
      what: 'both relays owning tasks',
    });
    // chunks of every task pile up while the agents write
    await waitFor(async () => (await Promise.all(ids.map((id) => archivedSeq(s.archive, id)))).every((seq) => seq >= 60), {
      timeoutMs: 20_000,
      what: 'chunks of every task',
    });
    expect((await taskObjects(s, ids[0] as string)).every((name) => /^chunks\/\d{12}-\d{12}\.jsonl$/.test(name))).toBe(true);
    for (const writer of writers) await writer.stop();
    for (const id of ids) await finishTask(s.store, id);
    for (const id of ids) expect(await expectExactlyOnce(s, id)).toBeGreaterThan(60);
    expect(existsSync(join(s.dataDir, 'transcripts'))).toBe(false);
  });

  it('relay killed with SIGKILL mid-task and started again: the transcript is whole, nothing twice', async () => {
    const s = await setup();
    const { id, second, afterRestart } = await killRelayMidTask(db, s, 20_000);
    expect(await expectExactlyOnce(s, id)).toBeGreaterThan(afterRestart);
    await waitFor(() => second.output().includes('task transcript complete'), { what: 'the second relay completing the task' });
    expect(second.output()).toContain(`"archive":"s3://${s3.bucket}/${s.objects}"`);
  });

  it('a store down for 10 s: events wait in Redis, /readyz and the metric say so, then everything arrives once, in order', async () => {
    const s = await setup();
    const registry = new Registry();
    const relay = s.relay('relay-o', { registry });
    const id = await submitTask(s.store, db.client, s.keys);
    await startTask(s.store, id);
    const writer = startWriter(s.store, id, cleanups, 10);
    await waitFor(async () => (await archivedSeq(s.archive, id)) >= 30, { timeoutMs: 15_000, what: 'archiving before the outage' });
    expect(await relay.ready()).toBe(true);
    expect(await metric(registry, 'agentq_relay_archive_up')).toBe(1);

    await s3.stop();
    const downAt = Date.now();
    try {
      await waitFor(async () => !(await relay.ready()), { timeoutMs: 8000, what: 'the relay not ready while the store is down' });
      expect(await metric(registry, 'agentq_relay_archive_up')).toBe(0);
      // keep producing for 10 s; nothing is acknowledged, and the stream has no TTL
      await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - downAt))));
      const written = (await s.store.require(id)).lastSeq ?? 0;
      expect(written).toBeGreaterThan(300);
      expect(await db.client.ttl(s.keys.events(id))).toBe(-1);
      const [pending] = (await db.client.xpending(s.keys.events(id), 'relay')) as [number];
      expect(pending).toBeGreaterThan(0);
    } finally {
      await s3.restart();
    }
    await waitFor(() => relay.ready(), { timeoutMs: 20_000, what: 'the relay ready again' });
    await writer.stop();
    await finishTask(s.store, id);
    const total = await expectExactlyOnce(s, id);
    expect(total).toBeGreaterThan(300);
    expect(await metric(registry, 'agentq_relay_archive_up')).toBe(1);
    expect(await registry.metrics()).toMatch(/agentq_relay_archive_failures_total\{op="(append|check)"\} [1-9]/);
  });

  it('a misconfigured store: /readyz 503, archive_up 0, a coded log line without the secret key; the task waits and is archived once fixed', async () => {
    const s = await setup();
    const secret = 'wrong-bucket-secret-value-123';
    const id = await submitTask(s.store, db.client, s.keys);
    await startTask(s.store, id);
    await s.store.append(id, messages(5));
    const broken = s.spawn('relay-m', { AGENTQ_ARCHIVE_URL: `s3://no-such-bucket/${s.objects}`, AWS_SECRET_ACCESS_KEY: secret });
    const port = await broken.port;
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 503, { what: '/readyz 503' });
    expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toMatch(/agentq_relay_archive_up\{service="log-relay"\} 0\b/);
    await waitFor(() => broken.output().includes('RELAY_ARCHIVE_UNAVAILABLE'), { what: 'the archive failure logged' });
    expect(broken.output()).toContain('NoSuchBucket');
    expect(broken.output()).not.toContain(secret);
    expect(await db.client.ttl(s.keys.events(id))).toBe(-1);
    expect(await taskObjects(s, id)).toEqual([]);
    expect(await broken.kill('SIGTERM')).toBe(0);

    const fixed = s.spawn('relay-m');
    await finishTask(s.store, id);
    expect(await expectExactlyOnce(s, id)).toBe(9);
    const fixedPort = await fixed.port;
    expect((await fetch(`http://127.0.0.1:${fixedPort}/readyz`)).status).toBe(200);
  });
});
