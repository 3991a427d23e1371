import { DEMO_REPO, withCurrentWaiting, type AgentEvent, type TaskRecord } from '@agentq/shared';
import { startTestRedis, waitFor, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDispatcherFixture, type DispatcherFixture } from './support/dispatcher-fixture.js';
import { enqueueTask } from './support/enqueue.js';

const TUNING = { cancelPollMs: 200 };

function waits(events: AgentEvent[]): Extract<AgentEvent, { kind: 'task.waiting' }>[] {
  return events.filter((e): e is Extract<AgentEvent, { kind: 'task.waiting' }> => e.kind === 'task.waiting');
}

describe('tasks waiting for a concurrency slot', () => {
  let redis: TestRedis;
  let fx: DispatcherFixture | undefined;

  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  const submit = (team: string, prompt: string, priority?: 'low' | 'normal' | 'high') => {
    const f = fx as DispatcherFixture;
    return enqueueTask({ redis: f.redis, keys: f.keys, store: f.store, queue: f.queue }, { repo: DEMO_REPO, prompt, priority }, { team });
  };
  const waitingOf = async (id: string) => {
    const f = fx as DispatcherFixture;
    return waitFor(async () => (await f.store.get(id))?.waiting, { what: `task ${id} to wait` });
  };

  it('starts the next waiting task when a sandbox ends, not at its backstop; a high-priority task of the team first', async () => {
    // the backstop is a minute away: only a hand-off can start the waiting tasks in time
    fx = await startDispatcherFixture(redis.url, { AGENTQ_MAX_RUNNING: '1', AGENTQ_SLOT_RECHECK_MS: '60000', AGENTQ_DEMO_DELAY_MS: '150' }, TUNING);
    const first = await submit('default', 'add a CONTRIBUTING.md');
    await fx.waitState(first, 'running');
    const normal = await submit('default', 'add a SECURITY.md');
    expect(await waitingOf(normal)).toMatchObject({ reason: 'global', position: 1 });
    const high = await submit('default', 'add a LICENSE.md', 'high');
    await waitingOf(high);

    // readers see where each stands now: the high-priority task goes first
    const record = async (id: string) => withCurrentWaiting((fx as DispatcherFixture).redis, (fx as DispatcherFixture).keys, (await fx?.store.require(id)) as TaskRecord);
    expect((await record(high)).waiting).toMatchObject({ reason: 'global', position: 1 });
    expect((await record(normal)).waiting).toMatchObject({ reason: 'global', position: 2 });
    expect((await fx.store.get(normal))?.state).toBe('queued');

    const done = await Promise.all([first, high, normal].map((id) => fx?.waitFinal(id, 30_000) as Promise<TaskRecord>));
    for (const task of done) {
      expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
      expect(task.waiting).toBeUndefined();
    }
    const [one, two, three] = done as [TaskRecord, TaskRecord, TaskRecord];
    expect(Date.parse(two.startedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(one.startedAt ?? ''));
    expect(Date.parse(three.startedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(two.startedAt ?? ''));

    expect(waits(await fx.events(normal))).toEqual([expect.objectContaining({ reason: 'global', position: 1 })]);
    expect(waits(await fx.events(first))).toEqual([]);
    const metrics = await fx.dispatcher.registry.metrics();
    expect(metrics).toMatch(/^agentq_dispatcher_slots_in_use\{service="dispatcher"\} 0$/m);
  });

  it('notes a new reason when a waiting task looks again, and the team cap holds the team back', async () => {
    fx = await startDispatcherFixture(
      redis.url,
      { AGENTQ_DISPATCHER_CONCURRENCY: '4', AGENTQ_MAX_RUNNING: '2', AGENTQ_TEAM_MAX_RUNNING: 'c:1', AGENTQ_SLOT_RECHECK_MS: '300', AGENTQ_DEMO_DELAY_MS: '200' },
      TUNING,
    );
    const a1 = await submit('a', 'add a CONTRIBUTING.md');
    const b1 = await submit('b', 'add a SECURITY.md');
    await fx.waitState(a1, 'running');
    await fx.waitState(b1, 'running');
    const c1 = await submit('c', 'add a LICENSE.md');
    expect(await waitingOf(c1)).toMatchObject({ reason: 'global', position: 1 });
    const c0 = await submit('c', 'add a NOTICE.md', 'high');
    await waitingOf(c0);
    // the first slot freed goes to team c, to its high-priority task; c1 then waits for its team
    const started = await fx.waitFinal(c0, 30_000);
    expect(started.state).toBe('succeeded');
    const c1Done = await fx.waitFinal(c1, 30_000);
    expect(c1Done.state).toBe('succeeded');
    expect(Date.parse(c1Done.startedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(started.startedAt ?? ''));
    const reasons = waits(await fx.events(c1)).map((e) => e.reason);
    expect(reasons[0]).toBe('global');
    expect(reasons).toContain('team');
    // a new event only when the reason changed
    expect(reasons.every((r, i) => i === 0 || r !== reasons[i - 1])).toBe(true);
  });

  it('hands the slot of a canceled waiting task (job removed) on to the next in line', async () => {
    fx = await startDispatcherFixture(redis.url, { AGENTQ_MAX_RUNNING: '1', AGENTQ_SLOT_RECHECK_MS: '60000', AGENTQ_DEMO_DELAY_MS: '100' }, TUNING);
    const first = await submit('default', 'add a CONTRIBUTING.md');
    await fx.waitState(first, 'running');
    const dropped = await submit('default', 'add a SECURITY.md');
    await waitingOf(dropped);
    const next = await submit('default', 'add a LICENSE.md');
    await waitingOf(next);
    // as the ingress cancels a queued task
    expect((await fx.store.transition(dropped, 'canceled')).ok).toBe(true);
    await fx.queue.remove(dropped);

    expect((await fx.waitFinal(first, 30_000)).state).toBe('succeeded');
    const task = await fx.waitFinal(next, 30_000);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect((await fx.store.get(dropped))?.state).toBe('canceled');
    expect((await fx.store.get(dropped))?.sandboxId).toBeUndefined();
    expect((await fx.store.get(dropped))?.waiting).toBeUndefined();
    // the slot was first set aside for the canceled task, whose job was gone
    expect(fx.logs.join('')).toMatch(new RegExp(`"taskId":"${dropped}"[^\n]*"msg":"slot set aside for a task whose job will not run; handed on"`));
  });
});
