import { FsTranscriptArchive, TaskStore, decodeStreamEntries, redisKeys, type RedisKeys } from '@agentq/shared';
import { makeTempDir, uniquePrefix, waitFor } from '@agentq/shared/testing';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../src/index.js';
import {
  appendEvents,
  archivedSeq,
  expectArchived,
  finishTask,
  relayConfig,
  startTask,
  submitTask,
  testLogger,
  useRelayRedis,
} from './support.js';

const db = useRelayRedis();
const { cleanups } = db;

interface Setup {
  prefix: string;
  keys: RedisKeys;
  store: TaskStore;
  dataDir: string;
  archive: FsTranscriptArchive;
  relay(consumer?: string, options?: { claimIdleMs?: number; registry?: Registry; archive?: FsTranscriptArchive }): Relay;
}

async function setup(): Promise<Setup> {
  const prefix = uniquePrefix('relay');
  const keys = redisKeys(prefix);
  const dir = await makeTempDir('agentq-relay-');
  cleanups.push(dir.remove);
  return {
    prefix,
    keys,
    store: new TaskStore(db.client, keys),
    dataDir: dir.path,
    archive: FsTranscriptArchive.forDataDir(dir.path),
    relay(consumer = 'relay-1', options = {}) {
      const relay = startRelay({
        config: relayConfig({ redisUrl: db.url, prefix, dataDir: dir.path, consumer, claimIdleMs: options.claimIdleMs }),
        logger: testLogger(),
        registry: options.registry,
        archive: options.archive,
      });
      cleanups.push(() => relay.close());
      return relay;
    },
  };
}

describe('log relay', () => {
  it('archives a task: contiguous transcript identical to the stream, final record, stream TTL, metrics', async () => {
    const s = await setup();
    const registry = new Registry();
    const relay = s.relay('relay-1', { registry });
    const id = await submitTask(s.store, db.client, s.keys);
    await startTask(s.store, id);
    await appendEvents(s.store, id, 40, 7, 5);
    await waitFor(async () => (await archivedSeq(s.archive, id)) >= 43, { what: 'events archived while the task runs' });
    expect(await s.archive.readTask(id)).toBeUndefined();
    expect(relay.ownedTasks()).toEqual([id]);
    await finishTask(s.store, id);
    const events = await expectArchived(s.store, s.archive, db.client, id);
    expect(events).toHaveLength(44);
    expect(events[43]).toMatchObject({ kind: 'task.state', state: 'succeeded' });
    expect(await s.archive.readTask(id)).toMatchObject({ state: 'succeeded', summary: 'done', lastSeq: 44 });
    // the task list entry is acknowledged and deleted
    await waitFor(async () => ((await db.client.xpending(s.keys.relayTasks, 'relay')) as [number])[0] === 0, {
      what: 'task list entry acknowledged',
    });
    expect(await db.client.xlen(s.keys.relayTasks)).toBe(0);
    expect(relay.ownedTasks()).toEqual([]);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/agentq_relay_events_relayed_total 44\b/);
    expect(metrics).toMatch(/agentq_relay_tasks_finished_total 1\b/);
    expect(metrics).toMatch(/agentq_relay_owned_tasks 0\b/);
    expect(metrics).toMatch(/agentq_relay_lag_events 0\b/);
  });

  it('archives a task that finished before the relay started, and one canceled while queued', async () => {
    const s = await setup();
    const done = await submitTask(s.store, db.client, s.keys);
    await startTask(s.store, done);
    await appendEvents(s.store, done, 30, 10);
    await finishTask(s.store, done, 'failed');
    const canceled = await submitTask(s.store, db.client, s.keys);
    expect(await s.store.transition(canceled, 'canceled')).toMatchObject({ ok: true });
    s.relay();
    expect(await expectArchived(s.store, s.archive, db.client, done)).toHaveLength(34);
    expect(await expectArchived(s.store, s.archive, db.client, canceled)).toHaveLength(2);
  });

  it('continues after close() with a new relay: transcript complete, nothing twice', async () => {
    const s = await setup();
    const first = s.relay('relay-1');
    const id = await submitTask(s.store, db.client, s.keys);
    await startTask(s.store, id);
    const writer = appendEvents(s.store, id, 600, 5, 2);
    await waitFor(async () => (await archivedSeq(s.archive, id)) >= 50, { what: 'first relay archiving' });
    await first.close();
    const second = s.relay('relay-1');
    await writer;
    await finishTask(s.store, id);
    expect(await expectArchived(s.store, s.archive, db.client, id)).toHaveLength(604);
    expect(second.ownedTasks()).toEqual([]);
  });

  it('hands its tasks over on close(): another relay continues at once, without waiting for the claim idle time', async () => {
    const s = await setup();
    const a = s.relay('relay-a', { claimIdleMs: 60_000 });
    const id = await submitTask(s.store, db.client, s.keys);
    await startTask(s.store, id);
    await appendEvents(s.store, id, 20, 5);
    await waitFor(async () => (await archivedSeq(s.archive, id)) >= 23, { what: 'relay a archiving' });
    const b = s.relay('relay-b', { claimIdleMs: 60_000 });
    expect(a.ownedTasks()).toEqual([id]);
    await a.close();
    await waitFor(() => b.ownedTasks().includes(id), { timeoutMs: 5000, what: 'relay b to own the task' });
    await appendEvents(s.store, id, 20, 5);
    await finishTask(s.store, id);
    expect(await expectArchived(s.store, s.archive, db.client, id, { timeoutMs: 5000 })).toHaveLength(44);
  });

  it('reads the archive again when it takes a task back that another relay wrote to meanwhile', async () => {
    const s = await setup();
    const archive = FsTranscriptArchive.forDataDir(s.dataDir);
    const first = s.relay('relay-a', { archive });
    const id = await submitTask(s.store, db.client, s.keys);
    await startTask(s.store, id);
    await appendEvents(s.store, id, 10, 5);
    await waitFor(async () => (await archivedSeq(s.archive, id)) >= 13, { what: 'first relay archiving' });
    await first.close();
    // another relay reads events 14..23 and stores them, then dies before acknowledging them
    await appendEvents(s.store, id, 10, 5);
    const read = (await db.client.xreadgroup('GROUP', 'relay', 'relay', 'STREAMS', s.keys.events(id), '>')) as [string, [string, string[]][]][];
    const other = decodeStreamEntries(read[0]?.[1] ?? []);
    expect(other.map((e) => e.seq)).toEqual([14, 15, 16, 17, 18, 19, 20, 21, 22, 23]);
    await FsTranscriptArchive.forDataDir(s.dataDir).append(id, other);
    // the same process (same archive object) takes the task back and is handed those entries again
    s.relay('relay-a', { archive });
    await appendEvents(s.store, id, 5, 5);
    await finishTask(s.store, id);
    expect(await expectArchived(s.store, s.archive, db.client, id)).toHaveLength(29);
  });

  it('runs two relays at once on several tasks: each task owned by one, every transcript complete', async () => {
    const s = await setup();
    const a = s.relay('relay-a');
    const b = s.relay('relay-b');
    const ids = await Promise.all(Array.from({ length: 8 }, () => submitTask(s.store, db.client, s.keys)));
    await waitFor(() => a.ownedTasks().length + b.ownedTasks().length === ids.length, { what: 'all tasks owned' });
    expect(new Set([...a.ownedTasks(), ...b.ownedTasks()]).size).toBe(ids.length);
    await Promise.all(
      ids.map(async (id, i) => {
        await startTask(s.store, id);
        await appendEvents(s.store, id, 50 + i * 10, 4, 1);
        await finishTask(s.store, id);
      }),
    );
    for (const [i, id] of ids.entries()) {
      expect(await expectArchived(s.store, s.archive, db.client, id)).toHaveLength(54 + i * 10);
    }
  });

  it('archives 5,000 events of one task complete and in order', async () => {
    const s = await setup();
    s.relay();
    const id = await submitTask(s.store, db.client, s.keys);
    await startTask(s.store, id);
    await appendEvents(s.store, id, 5000, 100);
    await finishTask(s.store, id);
    const events = await expectArchived(s.store, s.archive, db.client, id, { timeoutMs: 15_000 });
    expect(events).toHaveLength(5004);
    expect(events.filter((e) => e.kind === 'agent.message').map((e) => (e as { text: string }).text)).toEqual(
      Array.from({ length: 5000 }, (_, i) => `message ${i + 1}`),
    );
  });

  it('acknowledges malformed entries, logs them, and keeps going', async () => {
    const s = await setup();
    const registry = new Registry();
    const relay = s.relay('relay-1', { registry });
    await db.client.xadd(s.keys.relayTasks, '*', 'unexpected', 'field');
    await db.client.xadd(s.keys.relayTasks, '*', 'taskId', '../../etc');
    const id = await submitTask(s.store, db.client, s.keys);
    await startTask(s.store, id);
    // entries that are not events, between real ones (the task store numbers its entries <seq>-0)
    await db.client.xadd(s.keys.events(id), '3-1', 'e', '{not json');
    await db.client.xadd(s.keys.events(id), '3-2', 'other', 'field');
    await appendEvents(s.store, id, 5, 5);
    await finishTask(s.store, id);
    await waitFor(() => s.archive.readTask(id), { what: 'task.json' });
    const stored = await s.archive.readEvents(id);
    const entries = (await db.client.xrange(s.keys.events(id), '-', '+')) as [string, string[]][];
    const expected = entries.filter(([entryId]) => entryId.endsWith('-0')).map(([, fields]) => JSON.parse(fields[1] ?? '') as unknown);
    expect(stored.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(stored).toEqual(expected);
    await waitFor(async () => ((await db.client.xpending(s.keys.relayTasks, 'relay')) as [number])[0] === 0, {
      what: 'every task list entry acknowledged',
    });
    expect(await registry.metrics()).toMatch(/agentq_relay_malformed_entries_total\{stream="tasks"\} 2\b/);
    expect(await registry.metrics()).toMatch(/agentq_relay_malformed_entries_total\{stream="events"\} 2\b/);
    expect(relay.ownedTasks()).toEqual([]);
  });
});
