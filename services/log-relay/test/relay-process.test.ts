import { FsTranscriptArchive, TaskStore, redisKeys, type RedisKeys } from '@agentq/shared';
import { makeTempDir, uniquePrefix, waitFor } from '@agentq/shared/testing';
import { describe, expect, it } from 'vitest';
import { startRelay } from '../src/index.js';
import {
  archivedSeq,
  expectArchived,
  finishTask,
  killRelayMidTask,
  relayConfig,
  relayEnv,
  spawnRelay,
  startTask,
  startWriter,
  submitTask,
  testLogger,
  type RelayProcess,
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
  spawn(consumer: string, claimIdleMs?: number): RelayProcess;
}

async function setup(): Promise<Setup> {
  const prefix = uniquePrefix('relayp');
  const keys = redisKeys(prefix);
  const dir = await makeTempDir('agentq-relay-');
  cleanups.push(dir.remove);
  return {
    prefix,
    keys,
    store: new TaskStore(db.client, keys),
    dataDir: dir.path,
    archive: FsTranscriptArchive.forDataDir(dir.path),
    spawn(consumer, claimIdleMs) {
      const relay = spawnRelay(relayEnv({ redisUrl: db.url, prefix, dataDir: dir.path, consumer, claimIdleMs }));
      cleanups.push(() => relay.kill('SIGKILL'));
      return relay;
    },
  };
}

describe('log relay process', () => {
  it('killed with SIGKILL mid-stream and started again: transcript complete, nothing twice', async () => {
    const s = await setup();
    const { id, second, afterRestart } = await killRelayMidTask(db, s);
    const events = await expectArchived(s.store, s.archive, db.client, id);
    expect(events.length).toBeGreaterThan(afterRestart);
    expect(second.output()).toContain('task transcript complete');
  });

  it('takes over the task of a relay killed with SIGKILL once its claim is idle', async () => {
    const s = await setup();
    const id = await submitTask(s.store, db.client, s.keys);
    await startTask(s.store, id);
    const writer = startWriter(s.store, id, cleanups);
    const a = s.spawn('relay-a', 1000);
    await waitFor(async () => (await archivedSeq(s.archive, id)) >= 100, { timeoutMs: 15_000, what: 'relay a archiving' });
    await a.kill('SIGKILL');
    const b = s.spawn('relay-b', 1000);
    await waitFor(() => b.output().includes('task taken over from a silent relay'), { timeoutMs: 15_000, what: 'relay b taking the task over' });
    await writer.stop();
    await finishTask(s.store, id);
    await expectArchived(s.store, s.archive, db.client, id);
    expect(b.output()).toContain('task transcript complete');
    expect(a.output()).not.toContain('task transcript complete');
  });

  it('on SIGTERM answers its ops endpoints until stopped, finishes, hands the task over and exits 0', async () => {
    const s = await setup();
    const id = await submitTask(s.store, db.client, s.keys);
    await startTask(s.store, id);
    const writer = startWriter(s.store, id, cleanups);
    const relay = s.spawn('relay-t');
    const port = await relay.port;
    await waitFor(async () => (await archivedSeq(s.archive, id)) >= 50, { timeoutMs: 15_000, what: 'relay archiving' });
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/agentq_relay_events_relayed_total\{service="log-relay"\} [1-9]/);
    expect(metrics).toMatch(/agentq_relay_owned_tasks\{service="log-relay"\} 1\b/);
    expect(metrics).toContain('agentq_relay_lag_events');

    // a relay with a long claim idle time continues only if the task is handed over
    const next = startRelay({
      config: relayConfig({ redisUrl: db.url, prefix: s.prefix, dataDir: s.dataDir, consumer: 'relay-next', claimIdleMs: 600_000 }),
      logger: testLogger(),
    });
    cleanups.push(() => next.close());
    expect(await relay.kill('SIGTERM')).toBe(0);
    expect(relay.output()).toMatch(/"handedOver":1\b/);
    await waitFor(() => next.ownedTasks().includes(id), { timeoutMs: 5000, what: 'task handed over' });
    await writer.stop();
    await finishTask(s.store, id);
    await expectArchived(s.store, s.archive, db.client, id);
  });
});
