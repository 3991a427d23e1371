import { Redis } from 'ioredis';
import pino from 'pino';
import { Registry } from 'prom-client';
import { TaskStore, newTaskId, redisKeys, slotPosition, withCurrentWaiting, type RedisKeys, type SlotLimits, type TaskPriority } from '@agentq/shared';
import { makeTempDir, startTestRedis, uniquePrefix, waitFor, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SlotLedger, type SlotTask } from '../src/limits/slot-ledger.js';
import { registerSlotMetrics } from '../src/limits/slot-metrics.js';
import { SlotReclaimer } from '../src/limits/slot-reclaimer.js';
import { LocalSandboxProvider } from '../src/providers/local/local-provider.js';
import { TASK_TAG } from '../src/sandbox-tags.js';

const silent = pino({ level: 'silent' });

describe('slot ledger', () => {
  let testRedis: TestRedis;
  let redis: Redis;
  let keys: RedisKeys;
  /** Tasks slots were set aside for, in hand-out order. */
  let handed: string[];
  let clock: number;

  beforeAll(async () => {
    testRedis = await startTestRedis();
    redis = new Redis(testRedis.url);
  });
  afterAll(async () => {
    redis.disconnect();
    await testRedis.stop();
  });
  beforeEach(() => {
    keys = redisKeys(uniquePrefix('slots'));
    handed = [];
    clock = Date.parse('2026-01-01T00:00:00Z');
  });

  const ledger = (limits: Partial<SlotLimits>, options: { leaseMs?: number; reserveMs?: number; owner?: string } = {}) => {
    const l = new SlotLedger({
      redis,
      keys,
      limits: { team: {}, ...limits },
      leaseMs: options.leaseMs ?? 60_000,
      reserveMs: options.reserveMs ?? 60_000,
      owner: options.owner ?? 'test',
    });
    l.onHandOut = async (ids) => void handed.push(...ids);
    return l;
  };
  /** A task created one second after the previous one. */
  const task = (team: string, repo = 'acme/api', priority?: TaskPriority, id = newTaskId()): SlotTask => {
    clock += 1000;
    return { id, team, repo, priority, createdAt: new Date(clock).toISOString() };
  };

  it('keeps the pool, each team and each repository within its cap', async () => {
    const slots = ledger({ global: 3, team: { a: 2 }, otherTeams: 1, repo: 2 });
    const a1 = task('a', 'acme/one');
    const a2 = task('a', 'acme/two');
    const a3 = task('a', 'acme/three');
    const b1 = task('b', 'acme/one');
    const b2 = task('b', 'acme/two');
    const c1 = task('c', 'acme/one');
    const c2 = task('c', 'acme/three');
    expect(await slots.acquire(a1)).toEqual({ granted: true, how: 'new' });
    expect(await slots.acquire(a2)).toEqual({ granted: true, how: 'new' });
    // team a is at its cap of 2
    expect(await slots.acquire(a3)).toEqual({ granted: false, reason: 'team', position: 1 });
    // `*:1` caps team b
    expect(await slots.acquire(b1)).toEqual({ granted: true, how: 'new' });
    expect(await slots.acquire(b2)).toEqual({ granted: false, reason: 'team', position: 1 });
    // acme/one holds 2 (a1, b1): at the repository cap; c's team has room
    expect(await slots.acquire(c1)).toEqual({ granted: false, reason: 'repo', position: 1 });
    // the pool is at 3
    expect(await slots.acquire(c2)).toEqual({ granted: false, reason: 'global', position: 1 });
    expect(await slots.stats()).toEqual({
      held: 3,
      teams: { a: 2, b: 1 },
      holders: { [a1.id]: 'a', [a2.id]: 'a', [b1.id]: 'b' },
      waiting: { a: { team: 1 }, b: { team: 1 }, c: { repo: 1, global: 1 } },
    });
    expect(handed).toEqual([]);
  });

  it('gives a task that holds a slot the same slot again, and frees a slot once', async () => {
    const slots = ledger({ global: 1 });
    const a1 = task('a');
    const a2 = task('a');
    expect(await slots.acquire(a1)).toEqual({ granted: true, how: 'new' });
    expect(await slots.acquire(a1)).toEqual({ granted: true, how: 'kept' });
    expect(await slots.keep(a1, false)).toBe('kept');
    expect((await slots.stats()).held).toBe(1);
    expect(await slots.acquire(a2)).toMatchObject({ granted: false, reason: 'global' });
    expect(await slots.acquire(a2)).toMatchObject({ granted: false, reason: 'global', position: 1 });

    expect(await slots.release(a1.id)).toBe(true);
    // freed and set aside for a2 in the same step
    expect(handed).toEqual([a2.id]);
    expect(await slots.reserved(a2.id)).toBe(true);
    expect(await slots.release(a1.id)).toBe(false);
    expect(handed).toEqual([a2.id]);
    expect(await slots.stats()).toMatchObject({ held: 1, teams: { a: 1 } });
    // the task the slot was set aside for takes it
    expect(await slots.acquire(a2)).toEqual({ granted: true, how: 'kept' });
    expect(await slots.reserved(a2.id)).toBe(false);
    expect(await slots.release(a2.id)).toBe(true);
    expect(await slots.stats()).toEqual({ held: 0, teams: {}, holders: {}, waiting: {} });
  });

  it('takes a slot for a sandbox that runs without one, whatever the caps, only when told to', async () => {
    const slots = ledger({ global: 1 });
    const a1 = task('a');
    const a2 = task('a');
    await slots.acquire(a1);
    expect(await slots.keep(a2, false)).toBe('none');
    expect(await slots.keep(a2, true)).toBe('forced');
    expect((await slots.stats()).held).toBe(2);
  });

  it('hands a freed slot to the waiting team holding the fewest, then by priority and age within a team', async () => {
    const slots = ledger({ global: 3 });
    const busy = [task('a'), task('a'), task('b')];
    for (const t of busy) expect((await slots.acquire(t)).granted).toBe(true);
    // team a queued first and much; b and c later
    const aLow = task('a', 'acme/api', 'low');
    const aNormal = task('a');
    const aHigh = task('a', 'acme/api', 'high');
    const b1 = task('b');
    const c1 = task('c');
    const c2 = task('c');
    for (const t of [aLow, aNormal, aHigh, b1, c1, c2]) expect((await slots.acquire(t)).granted).toBe(false);

    // held: a 2, b 1, c 0 → c; then b 1, c 1 → b (lower name); then c
    await slots.release((busy[0] as SlotTask).id); // a 1, b 1, c 0
    expect(handed).toEqual([c1.id]);
    await slots.release((busy[2] as SlotTask).id); // a 1, b 0, c 1
    expect(handed).toEqual([c1.id, b1.id]);
    await slots.release((busy[1] as SlotTask).id); // a 0, b 1, c 1
    // team a's high-priority task goes first although it is its newest
    expect(handed).toEqual([c1.id, b1.id, aHigh.id]);
    await slots.release(c1.id); // a 1, b 1, c 0
    expect(handed.at(-1)).toBe(c2.id);
    await slots.release(b1.id);
    await slots.release(aHigh.id);
    expect(handed.slice(-2)).toEqual([aNormal.id, aLow.id]);
  });

  it('hands slots to a team below its cap before one at it, and skips a task whose repository is full', async () => {
    const slots = ledger({ global: 2, team: { a: 1 }, repo: 1 });
    const a1 = task('a', 'acme/one');
    const b1 = task('b', 'acme/two');
    await slots.acquire(a1);
    await slots.acquire(b1);
    const a2 = task('a', 'acme/three');
    const b2 = task('b', 'acme/two'); // older than b3, but its repository is full
    const b3 = task('b', 'acme/four');
    for (const t of [a2, b2, b3]) await slots.acquire(t);
    expect(await slots.acquire(a2)).toMatchObject({ reason: 'team' });
    expect(await slots.acquire(b2)).toMatchObject({ reason: 'repo' });
    expect(await slots.acquire(b3)).toMatchObject({ reason: 'global' });
    // a frees its slot: a (0) and b (1) both wait; a gets it, b3 stays
    await slots.release(a1.id);
    expect(handed).toEqual([a2.id]);
    // b1 ends: its repository frees; b2 (the older) goes first
    await slots.release(b1.id);
    expect(handed).toEqual([a2.id, b2.id]);
  });

  it('numbers the waiting tasks of a reason in the order slots go to them', async () => {
    // only the pool is capped; its slots are freed by a team with no waiting task, one at a time
    const slots = ledger({ global: 7 });
    const owners = Array.from({ length: 7 }, () => task('z'));
    for (const t of owners) await slots.acquire(t);
    const [b1, aLow, c1, aNormal, b2, aWeb, cHigh] = [
      task('b'),
      task('a', 'acme/api', 'low'),
      task('c'),
      task('a'),
      task('b'),
      task('a', 'acme/web'),
      task('c', 'acme/web', 'high'),
    ] as SlotTask[];
    const line = [b1, aLow, c1, aNormal, b2, aWeb, cHigh] as SlotTask[];
    for (const t of line) expect(await slots.acquire(t)).toMatchObject({ granted: false, reason: 'global' });
    const positions = new Map<string, number>();
    for (const t of line) positions.set(t.id, (await slotPosition(redis, keys, t.id))?.position as number);
    const byPosition = [...positions.entries()].sort((x, y) => x[1] - y[1]).map(([id]) => id);
    expect([...positions.values()].sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // turns: a team's k-th task comes at (slots it holds) + k, ties to the lower team name
    expect(byPosition).toEqual([aNormal, b1, cHigh, aWeb, b2, c1, aLow].map((t) => t?.id));

    for (const [i, owner] of owners.entries()) {
      await slots.release(owner.id);
      expect(handed).toHaveLength(i + 1);
      // the one at position 1 started; the others moved up by one
      expect(handed.at(-1)).toBe(byPosition[i]);
      for (const t of line.filter((x) => !handed.includes(x.id))) {
        expect((await slotPosition(redis, keys, t.id))?.position).toBe((positions.get(t.id) as number) - handed.length);
      }
    }
  });

  it('shows a waiting task its current reason and position through the shared reader', async () => {
    const slots = ledger({ global: 1, team: { a: 1 } });
    const store = new TaskStore(redis, keys);
    const a1 = task('a');
    await slots.acquire(a1);
    const ids = [task('b'), task('b'), task('a')];
    for (const t of ids) await slots.acquire(t);
    const record = {
      id: (ids[1] as SlotTask).id,
      state: 'queued' as const,
      repo: 'acme/api',
      prompt: 'x',
      team: 'b',
      source: 'api' as const,
      createdAt: (ids[1] as SlotTask).createdAt,
      updatedAt: (ids[1] as SlotTask).createdAt,
      waiting: { reason: 'team' as const, position: 9, since: '2026-01-01T00:00:00Z' },
    };
    expect((await withCurrentWaiting(store.redis, keys, record)).waiting).toEqual({ reason: 'global', position: 2, since: '2026-01-01T00:00:00Z' });
    expect((await slotPosition(redis, keys, (ids[2] as SlotTask).id))).toEqual({ reason: 'team', position: 1 });
    // a task waiting for another one is left as it is
    const predecessor = { ...record, waiting: { reason: 'predecessor' as const, on: a1.id, since: record.waiting.since } };
    expect(await withCurrentWaiting(redis, keys, predecessor)).toBe(predecessor);
    // one canceled while it waited waits no more
    expect((await withCurrentWaiting(redis, keys, { ...record, state: 'canceled' })).waiting).toBeUndefined();
  });

  it('frees a slot set aside for a task that will not start, to the next in line', async () => {
    const slots = ledger({ global: 1 });
    const a1 = task('a');
    const [b1, b2] = [task('b'), task('b')];
    await slots.acquire(a1);
    await slots.acquire(b1 as SlotTask);
    await slots.acquire(b2 as SlotTask);
    await slots.release(a1.id);
    expect(handed).toEqual([b1?.id]);
    await slots.forget((b1 as SlotTask).id);
    expect(handed).toEqual([b1?.id, b2?.id]);
    // forgetting a task that holds a slot it took leaves the slot (its sandbox may run)
    await slots.acquire(b2 as SlotTask);
    await slots.forget((b2 as SlotTask).id);
    expect((await slots.stats()).held).toBe(1);
  });

  it('reports the pool, teams and waiting tasks as metrics', async () => {
    const slots = ledger({ global: 1 });
    await slots.acquire(task('a'));
    await slots.acquire(task('b'));
    await slots.notePredecessorWait({ id: newTaskId(), team: 'b' }, true);
    const registry = new Registry();
    registerSlotMetrics(registry, slots);
    const text = await registry.metrics();
    expect(text).toMatch(/^agentq_dispatcher_slots_in_use 1$/m);
    expect(text).toMatch(/^agentq_dispatcher_team_slots_in_use\{team="a"\} 1$/m);
    expect(text).toMatch(/^agentq_dispatcher_waiting_tasks\{team="b",reason="global"\} 1$/m);
    expect(text).toMatch(/^agentq_dispatcher_waiting_tasks\{team="b",reason="predecessor"\} 1$/m);
  });

  describe('leases', () => {
    let tmp: { path: string; remove: () => Promise<void> };
    let provider: LocalSandboxProvider;

    beforeEach(async () => {
      tmp = await makeTempDir('agentq-slots-');
      provider = new LocalSandboxProvider({ dataDir: tmp.path, graceMs: 300, pollMs: 25 });
    });
    afterEach(async () => {
      for (const info of await provider.list({})) await provider.remove(info.id);
      await tmp.remove();
    });

    const reclaimer = (slots: SlotLedger) =>
      new SlotReclaimer({ ledger: slots, provider, store: new TaskStore(redis, keys), redis, keys, logger: silent, taskTag: TASK_TAG, intervalMs: 60_000 });

    /** A record for the task, so the clean-up does not take it for a gone one. */
    const record = async (t: SlotTask) => {
      await new TaskStore(redis, keys).create({ id: t.id, repo: t.repo, prompt: 'x', team: t.team, source: 'api', createdAt: t.createdAt });
    };

    it('never reclaims a lapsed slot while its sandbox runs; does once the provider says it is gone', async () => {
      const slots = ledger({ global: 1 }, { leaseMs: 300 });
      const running = task('a');
      const next = task('b');
      for (const t of [running, next]) await record(t);
      await slots.acquire(running);
      const handle = await provider.create({ taskId: running.id, command: ['sleep', '30'], env: {}, secrets: {}, tags: { [TASK_TAG]: running.id } });
      await slots.acquire(next);
      // nobody renews the lease (its dispatcher died)
      await waitFor(async () => (await slots.lapsed()).length === 1, { timeoutMs: 5000, intervalMs: 50, what: 'the lease to run out' });
      const kept = await reclaimer(slots).check(true);
      expect(kept).toMatchObject({ reclaimed: [], kept: [running.id] });
      expect((await slots.stats()).held).toBe(1);
      expect(handed).toEqual([]);

      await handle.terminate();
      const freed = await reclaimer(slots).check(true);
      expect(freed.reclaimed).toEqual([{ taskId: running.id, state: 'held' }]);
      expect(handed).toEqual([next.id]);
    });

    it('reclaims a lapsed slot whose sandbox was never created, and a set-aside slot whose task never came', async () => {
      const slots = ledger({ global: 1 }, { leaseMs: 200, reserveMs: 200 });
      const [a, b, c] = [task('a'), task('b'), task('c')];
      for (const t of [a, b, c]) await record(t);
      await slots.acquire(a);
      await slots.acquire(b);
      await slots.acquire(c);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await reclaimer(slots).check(true)).reclaimed).toEqual([{ taskId: a.id, state: 'held' }]);
      expect(handed).toEqual([b.id]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await reclaimer(slots).check(true)).reclaimed).toEqual([{ taskId: b.id, state: 'reserved' }]);
      expect(handed).toEqual([b.id, c.id]);
    });

    it('renews the leases of held slots, and says which it no longer holds', async () => {
      const slots = ledger({}, { leaseMs: 300 });
      const a = task('a');
      await slots.acquire(a);
      for (let i = 0; i < 4; i++) {
        await new Promise((resolve) => setTimeout(resolve, 150));
        expect(await slots.renew([a.id, 'gone'])).toEqual(['gone']);
      }
      expect(await slots.lapsed()).toEqual([]);
    });

    it('takes tasks that ended while they waited out of line', async () => {
      const slots = ledger({ global: 1 });
      const store = new TaskStore(redis, keys);
      const [a, b] = [task('a'), task('b')];
      for (const t of [a, b]) await record(t);
      await slots.acquire(a);
      await slots.acquire(b);
      await slots.notePredecessorWait({ id: 'x0', team: 'a' }, true);
      await store.update(b.id, { waiting: { reason: 'global', position: 1, since: new Date().toISOString() } });
      expect((await store.transition(b.id, 'canceled')).ok).toBe(true);
      const report = await reclaimer(slots).check(true);
      expect(report.forgotten.sort()).toEqual([b.id, 'x0'].sort());
      expect((await slots.stats()).waiting).toEqual({});
      expect((await store.get(b.id))?.waiting).toBeUndefined();
    });
  });
});
