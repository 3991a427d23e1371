import { FsTranscriptArchive, TaskStore, redisKeys } from '@agentq/shared';
import { freePort, makeTempDir, startRedisProcess, uniquePrefix, waitFor, type TestRedis } from '@agentq/shared/testing';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startRelay } from '../src/index.js';
import { appendEvents, archivedSeq, expectArchived, finishTask, relayConfig, startTask, submitTask, testLogger } from './support.js';

const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function privateRedis(options: { keepData: boolean }) {
  const port = await freePort();
  const redisDir = await makeTempDir('agentq-redis-');
  const dataDir = await makeTempDir('agentq-relay-');
  cleanups.push(redisDir.remove, dataDir.remove);
  let server: TestRedis | undefined;
  const start = async () => {
    server = await startRedisProcess({ port, dir: redisDir.path, appendOnly: options.keepData });
    if (options.keepData) {
      const admin = new Redis(server.url);
      await admin.config('SET', 'appendfsync', 'always');
      admin.disconnect();
    }
    return server;
  };
  await start();
  cleanups.push(() => server?.stop() ?? Promise.resolve());
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url);
  cleanups.push(async () => client.disconnect());
  const prefix = uniquePrefix('relayr');
  const keys = redisKeys(prefix);
  const relay = startRelay({
    config: relayConfig({ redisUrl: url, prefix, dataDir: dataDir.path, consumer: 'relay-r', claimIdleMs: 3000 }),
    logger: testLogger(),
  });
  cleanups.push(() => relay.close());
  return {
    client,
    keys,
    relay,
    store: new TaskStore(client, keys),
    archive: FsTranscriptArchive.forDataDir(dataDir.path),
    restart: async () => {
      await server?.stop();
      await start();
    },
  };
}

describe('log relay across Redis restarts', () => {
  it('reconnects after Redis restarts with its data and completes the running task and new ones', async () => {
    const r = await privateRedis({ keepData: true });
    const id = await submitTask(r.store, r.client, r.keys);
    await startTask(r.store, id);
    await appendEvents(r.store, id, 30, 5);
    await waitFor(async () => (await archivedSeq(r.archive, id)) >= 33, { what: 'events archived before the restart' });
    await r.restart();
    await appendEvents(r.store, id, 30, 5);
    await finishTask(r.store, id);
    expect(await expectArchived(r.store, r.archive, r.client, id, { timeoutMs: 15_000 })).toHaveLength(64);
    const later = await submitTask(r.store, r.client, r.keys);
    await startTask(r.store, later);
    await appendEvents(r.store, later, 10, 5);
    await finishTask(r.store, later);
    expect(await expectArchived(r.store, r.archive, r.client, later, { timeoutMs: 15_000 })).toHaveLength(14);
  });

  it('keeps going after Redis restarts empty: drops the vanished task, relays new ones', async () => {
    const r = await privateRedis({ keepData: false });
    const lost = await submitTask(r.store, r.client, r.keys);
    await startTask(r.store, lost);
    await waitFor(async () => (await archivedSeq(r.archive, lost)) >= 3, { what: 'events archived before the restart' });
    await r.restart();
    const id = await submitTask(r.store, r.client, r.keys);
    await startTask(r.store, id);
    await appendEvents(r.store, id, 20, 5);
    await finishTask(r.store, id);
    expect(await expectArchived(r.store, r.archive, r.client, id, { timeoutMs: 15_000 })).toHaveLength(24);
    await waitFor(() => r.relay.ownedTasks().length === 0, { what: 'the vanished task dropped' });
    expect(await r.archive.readTask(lost)).toBeUndefined();
  });
});
