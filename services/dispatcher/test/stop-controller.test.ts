import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { TaskStore, connectRedis, createLogger, newTaskId, recordSpend, redisKeys, setBudgetStop, type Logger, type RedisKeys } from '@agentq/shared';
import { startTestRedis, uniquePrefix, waitFor, type TestRedis } from '@agentq/shared/testing';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CancelListener } from '../src/cancel-listener.js';
import { readMeteredSpend } from '../src/run/metered-spend.js';
import { StopController, type StopReason, type StopWatch } from '../src/run/stop-controller.js';

const POLL_MS = 25;

describe('stop controller', () => {
  let redis: TestRedis;
  let client: Redis;
  let keys: RedisKeys;
  let store: TaskStore;
  let cancels: CancelListener;
  let lines: { msg: string; reason?: string }[];
  let log: Logger;
  const open: StopController[] = [];

  beforeAll(async () => {
    redis = await startTestRedis();
    client = connectRedis(redis.url);
    keys = redisKeys(uniquePrefix('stop'));
    store = new TaskStore(client, keys);
    lines = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as { msg: string });
        done();
      },
    });
    log = createLogger({ service: 'dispatcher', level: 'info', destination });
    cancels = await CancelListener.start(connectRedis(redis.url), keys.cancelChannel, log);
  });
  afterEach(() => {
    for (const stops of open.splice(0)) stops.close();
  });
  afterAll(async () => {
    await cancels?.close();
    client?.disconnect();
    await redis?.stop();
  });

  async function newTask(): Promise<string> {
    const id = newTaskId();
    await store.create({ id, repo: 'demo/hello', prompt: 'p', team: 'default', source: 'api' });
    return id;
  }

  function watch(taskId: string, options: Partial<StopWatch> = {}): StopController {
    const stops = StopController.watch({ taskId, cancels, store, pollMs: POLL_MS, deadlineMs: Date.now() + 60_000, maxCostUsd: undefined, log, ...options });
    open.push(stops);
    return stops;
  }

  const stoppedWith = (stops: StopController, what: string) => waitFor(() => stops.reason, { timeoutMs: 5000, intervalMs: 10, what });

  it('keeps the first reason: later stops change nothing, and what acts on a stop acts once', async () => {
    const id = await newTask();
    const stops = watch(id, { maxCostUsd: 1 });
    const seen: StopReason[] = [];
    stops.onStop((reason) => seen.push(reason));
    expect(stops.reason).toBeUndefined();
    expect(stops.signal.aborted).toBe(false);

    stops.cost(2);
    expect(stops.stop('cancel')).toBe(false);
    expect(stops.stop('timeout')).toBe(false);
    stops.cost(3);
    expect(stops.reason).toBe('budget');
    expect(stops.signal.reason).toBe('budget');
    expect(seen).toEqual(['budget']);
    // one that comes late hears of the stop at once
    stops.onStop((reason) => seen.push(reason));
    expect(seen).toEqual(['budget', 'budget']);
    const mine = lines.filter((l) => l.msg === 'stopping sandbox' || l.msg === 'task over its spending limit');
    expect(mine).toEqual([
      expect.objectContaining({ msg: 'task over its spending limit', costUsd: 2, maxCostUsd: 1 }),
      expect.objectContaining({ msg: 'stopping sandbox', reason: 'budget' }),
    ]);
  });

  it('stops over the spending limit only', async () => {
    const limited = watch(await newTask(), { maxCostUsd: 1 });
    limited.cost(undefined);
    limited.cost(1);
    expect(limited.stopped).toBe(false);
    limited.cost(1.01);
    expect(limited.reason).toBe('budget');
    const unlimited = watch(await newTask());
    unlimited.cost(1_000_000);
    expect(unlimited.stopped).toBe(false);
  });

  it('stops on a cancel announced for its task, not for another', async () => {
    const id = await newTask();
    const stops = watch(id);
    await client.publish(keys.cancelChannel, await newTask());
    await sleep(POLL_MS * 4);
    expect(stops.stopped).toBe(false);
    await client.publish(keys.cancelChannel, id);
    expect(await stoppedWith(stops, 'the cancel')).toBe('cancel');
  });

  it('stops on what the record says: a cancel requested, a final state, a task that is gone', async () => {
    const canceled = await newTask();
    const a = watch(canceled);
    await sleep(POLL_MS * 3);
    expect(a.stopped).toBe(false);
    await store.update(canceled, { cancelRequested: true });
    expect(await stoppedWith(a, 'the cancel on the record')).toBe('cancel');

    const ended = await newTask();
    const b = watch(ended);
    await store.transition(ended, 'failed');
    expect(await stoppedWith(b, 'the final state')).toBe('final');

    const c = watch(newTaskId());
    expect(await stoppedWith(c, 'the missing task')).toBe('final');
  });

  it('stops at the deadline', async () => {
    const started = Date.now();
    const stops = watch(await newTask(), { deadlineMs: started + 150 });
    expect(await stoppedWith(stops, 'the deadline')).toBe('timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    const late = watch(await newTask(), { deadlineMs: started - 1000 });
    expect(await stoppedWith(late, 'a deadline passed already')).toBe('timeout');
  });

  it('watches no more once closed: no cancel, record, or deadline stops it', async () => {
    const id = await newTask();
    const stops = watch(id, { deadlineMs: Date.now() + 100 });
    stops.close();
    stops.close();
    await client.publish(keys.cancelChannel, id);
    await store.update(id, { cancelRequested: true });
    await sleep(300);
    expect(stops.stopped).toBe(false);
    // a stop given directly still counts
    expect(stops.stop('final')).toBe(true);
    expect(stops.reason).toBe('final');
  });

  it('counts what the model gateway metered as the cost: the larger of it and the reported one', async () => {
    const id = await newTask();
    const stops = watch(id, { maxCostUsd: 1, metered: () => readMeteredSpend(client, keys, id) });
    stops.cost(0.4);
    await recordSpend(client, keys, { taskId: id, team: 'default', usd: 0.7, at: new Date() });
    await waitFor(() => (stops.costUsd === 0.7 ? true : undefined), { timeoutMs: 5000, intervalMs: 10, what: 'the metered spend to be read' });
    expect(stops.stopped).toBe(false);
    stops.cost(0.9);
    expect(stops.costUsd).toBe(0.9);
    await recordSpend(client, keys, { taskId: id, team: 'default', usd: 0.35, at: new Date() });
    expect(await stoppedWith(stops, 'the metered spend to pass the limit')).toBe('budget');
    expect(stops.budgetReason).toEqual({ scope: 'task', limitUsd: 1, spentUsd: 1.05 });
  });

  it('stops at once on the gateway\'s budget stop, with its reason, also without a limit of the task', async () => {
    const id = await newTask();
    const stops = watch(id, { metered: () => readMeteredSpend(client, keys, id) });
    await sleep(3 * POLL_MS);
    expect(stops.stopped).toBe(false);
    expect(stops.budgetReason).toBeUndefined();
    await setBudgetStop(client, keys, id, { scope: 'team', limitUsd: 10, spentUsd: 10.5 });
    expect(await stoppedWith(stops, 'the budget stop')).toBe('budget');
    expect(stops.budgetReason).toEqual({ scope: 'team', limitUsd: 10, spentUsd: 10.5 });
  });
});
