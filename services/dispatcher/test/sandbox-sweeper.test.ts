import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import pino from 'pino';
import { DEFAULT_TEAM, TaskStore, redisKeys, type TaskState } from '@agentq/shared';
import { makeTempDir, startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalSandboxProvider } from '../src/providers/local/local-provider.js';
import { ModalSandboxProvider } from '../src/providers/modal/modal-provider.js';
import type { SandboxProvider } from '../src/providers/sandbox-provider.js';
import { SandboxSweeper, type SweeperOptions } from '../src/sandbox-sweeper.js';
import { DEPLOYMENT_TAG, TASK_TAG } from '../src/sandbox-tags.js';
import { ModalDouble } from './support/modal-double.js';
import { sandboxPgid, waitGroupGone } from './support/process.js';

const HOUR = 3600_000;

describe('sandbox sweeper', () => {
  let testRedis: TestRedis;
  let redis: Redis;
  let tmp: { path: string; remove: () => Promise<void> };
  let provider: LocalSandboxProvider;
  let store: TaskStore;
  let keys: ReturnType<typeof redisKeys>;
  let n = 0;
  const prefix = () => `sweep${n}`;

  beforeAll(async () => {
    testRedis = await startTestRedis();
    redis = new Redis(testRedis.url);
  });
  afterAll(async () => {
    redis.disconnect();
    await testRedis.stop();
  });
  beforeEach(async () => {
    n += 1;
    tmp = await makeTempDir('agentq-sweep-');
    provider = new LocalSandboxProvider({ dataDir: tmp.path, graceMs: 300, pollMs: 25 });
    keys = redisKeys(prefix());
    store = new TaskStore(redis, keys);
  });
  afterEach(async () => {
    for (const info of await provider.list({})) await provider.remove(info.id);
    await tmp.remove();
  });

  const sweeper = (extra: Partial<SweeperOptions> = {}) =>
    new SandboxSweeper({
      provider,
      store,
      redis,
      keys,
      logger: pino({ level: 'silent' }),
      registry: new Registry(),
      tags: { [DEPLOYMENT_TAG]: prefix() },
      taskTag: TASK_TAG,
      intervalMs: 60_000,
      keepMs: 24 * HOUR,
      ...extra,
    });

  /** A task in the given state (through legal transitions). */
  async function task(id: string, state: TaskState, fields: { sandboxId?: string } = {}): Promise<void> {
    await store.create({ id, repo: 'demo/hello', prompt: 'p', team: DEFAULT_TEAM, source: 'api' });
    const path: Record<string, TaskState[]> = {
      queued: [],
      running: ['starting', 'running'],
      succeeded: ['starting', 'running', 'publishing', 'succeeded'],
      canceled: ['canceled'],
    };
    for (const to of path[state] ?? []) expect((await store.transition(id, to)).ok).toBe(true);
    if (fields.sandboxId) await store.update(id, { sandboxId: fields.sandboxId });
  }

  async function sandbox(taskId: string, script: string, tags: Record<string, string> = { [DEPLOYMENT_TAG]: prefix() }) {
    return provider.create({ taskId, command: ['bash', '-c', script], env: {}, secrets: {}, tags: { [TASK_TAG]: taskId, ...tags } });
  }

  it('terminates running sandboxes whose task is final, unknown or runs elsewhere, and leaves the others', async () => {
    await task('final1', 'succeeded');
    await task('live1', 'running', { sandboxId: 'live1' });
    await task('twin1', 'running', { sandboxId: 'other-sandbox' });
    const orphans = [await sandbox('final1', 'sleep 60'), await sandbox('unknown1', 'sleep 60'), await sandbox('twin1', 'sleep 60')];
    const live = await sandbox('live1', 'sleep 60');
    const foreign = await sandbox('foreign1', 'sleep 60', { [DEPLOYMENT_TAG]: 'another-deployment' });
    const groups = await Promise.all(orphans.map((h) => sandboxPgid(tmp.path, h.id)));

    const registry = new Registry();
    const report = await sweeper({ registry }).sweep();
    expect(report.terminated.sort()).toEqual(['final1', 'twin1', 'unknown1']);
    expect(report.removed).toEqual([]);
    for (const pgid of groups) await waitGroupGone(pgid);
    expect(await live.status()).toEqual({ state: 'running' });
    expect(await foreign.status()).toEqual({ state: 'running' });
    expect(await registry.getSingleMetricAsString('agentq_dispatcher_sandboxes_swept_total')).toContain('action="terminated"} 3');
    // what a terminated orphan kept (its home, its output) stays for the retention
    expect(existsSync(join(tmp.path, 'sandboxes', 'final1', 'output.log'))).toBe(true);
  });

  it('removes ended sandboxes of final or unknown tasks once the retention is over, and only those', async () => {
    await task('old1', 'succeeded');
    await task('queued1', 'queued');
    for (const id of ['old1', 'unknown2', 'queued1']) {
      const handle = await sandbox(id, 'echo done');
      await handle.wait();
      await handle.release();
    }
    const start = Date.now();
    expect((await sweeper({ now: () => start }).sweep()).removed).toEqual([]);
    await redis.del(keys.sweepLock);

    const later = await sweeper({ now: () => start + 25 * HOUR }).sweep();
    expect(later.removed.sort()).toEqual(['old1', 'unknown2']);
    expect(existsSync(join(tmp.path, 'sandboxes', 'old1'))).toBe(false);
    expect(existsSync(join(tmp.path, 'sandboxes', 'unknown2'))).toBe(false);
    expect(existsSync(join(tmp.path, 'sandboxes', 'queued1', 'output.log'))).toBe(true);
  });

  it('with a retention of 0 removes an ended sandbox as soon as its task is final', async () => {
    await task('gone1', 'canceled');
    const handle = await sandbox('gone1', 'true');
    await handle.wait();
    expect((await sweeper({ keepMs: 0 }).sweep()).removed).toEqual(['gone1']);
    expect(await provider.attach('gone1')).toBeUndefined();
  });

  it('sweeps once per interval across dispatchers', async () => {
    await task('final2', 'succeeded');
    await sandbox('final2', 'sleep 60');
    const [a, b] = await Promise.all([sweeper().sweep(), sweeper().sweep()]);
    expect([a.skipped, b.skipped].filter(Boolean)).toHaveLength(1);
    expect([...a.terminated, ...b.terminated]).toEqual(['final2']);
    expect((await sweeper().sweep()).skipped).toBe(true);
  });

  it('terminates orphaned Modal sandboxes (the adapter against the SDK double), found by their tags', async () => {
    const root = join(tmp.path, 'agentq');
    const double = new ModalDouble({ dir: join(tmp.path, 'modal'), privatePaths: [root] });
    const modal = new ModalSandboxProvider({
      client: double,
      app: 'agentq-sweep',
      image: 'agentq-sandbox:latest',
      cpu: 1,
      memoryMiB: 1024,
      secretNames: [],
      allowedDomains: undefined,
      root,
      pollMs: 25,
      graceMs: 500,
    });
    try {
      await task('mfinal', 'succeeded');
      await task('mlive', 'running');
      const create = (taskId: string) =>
        modal.create({ taskId, command: ['bash', '-c', 'sleep 60'], env: {}, secrets: {}, tags: { [TASK_TAG]: taskId, [DEPLOYMENT_TAG]: prefix() } });
      const orphan = await create('mfinal');
      const live = await create('mlive');
      await store.update('mlive', { sandboxId: live.id });
      const report = await sweeper({ provider: modal }).sweep();
      expect(report.terminated).toEqual([orphan.id]);
      expect((await orphan.status()).state).toBe('lost');
      expect(await live.status()).toEqual({ state: 'running' });
      await live.terminate();
    } finally {
      await double.shutdown();
    }
  });

  it('survives a provider that fails to list', async () => {
    const broken: SandboxProvider = {
      name: 'broken',
      create: () => Promise.reject(new Error('no')),
      attach: () => Promise.resolve(undefined),
      list: () => Promise.reject(new Error('engine unreachable')),
      remove: () => Promise.resolve(),
    };
    expect(await sweeper({ provider: broken }).sweep()).toEqual({ terminated: [], removed: [] });
  });
});
