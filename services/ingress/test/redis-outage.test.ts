import { makeTempDir, startRedisProcess, startTestRedis, waitFor, type TestRedis } from '@agentq/shared/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { auth, queueSnapshot, startIngress, taskBody, type IngressFixture } from './ingress-fixture.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function portOf(redis: TestRedis): number {
  return Number(new URL(redis.url).port);
}

async function post(fx: IngressFixture, headers: Record<string, string> = auth()) {
  const started = Date.now();
  const res = await fx.app.inject({ method: 'POST', url: '/v1/tasks', headers, payload: taskBody() });
  return { res, ms: Date.now() - started };
}

describe('Redis unavailable', () => {
  it('answers 503 with Retry-After promptly, is not ready, and accepts nothing', async () => {
    let redis = await startTestRedis({ private: true });
    const port = portOf(redis);
    const fx = await startIngress(redis.url);
    cleanups.push(() => fx.close());
    cleanups.push(() => redis.stop());
    expect((await post(fx)).res.statusCode).toBe(202);
    const before = await queueSnapshot(fx);

    await redis.stop();
    for (const headers of [auth(), { ...auth(), 'idempotency-key': 'during-outage' }]) {
      const { res, ms } = await post(fx, headers);
      expect(res.statusCode).toBe(503);
      expect(res.json().error.code).toBe('INGRESS_UNAVAILABLE');
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(ms).toBeLessThan(3000);
    }
    const ready = await fx.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    const list = await fx.app.inject({ method: 'GET', url: '/v1/tasks', headers: auth() });
    expect(list.statusCode).toBe(503);
    expect((await fx.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);

    const dir = await makeTempDir('agentq-redis-again-');
    cleanups.push(() => dir.remove());
    redis = await startRedisProcess({ port, dir: dir.path });
    await waitFor(async () => (await fx.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, { what: 'ingress ready again' });
    // the restarted Redis starts empty: nothing from the outage may have reached it
    expect(await queueSnapshot(fx)).toEqual({ jobs: 0, indexed: 0, relay: 0 });
    expect(before).toEqual({ jobs: 1, indexed: 1, relay: 1 });
    const again = await post(fx, { ...auth(), 'idempotency-key': 'during-outage' });
    expect(again.res.statusCode).toBe(202);
    expect(await queueSnapshot(fx)).toEqual({ jobs: 1, indexed: 1, relay: 1 });
  });

  it('removes the record, relay entry and idempotency key when the job cannot be queued', async () => {
    const storeRedis = await startTestRedis();
    cleanups.push(() => storeRedis.stop());
    const queueRedis = await startTestRedis({ private: true });
    cleanups.push(() => queueRedis.stop());
    const fx = await startIngress(storeRedis.url, { queueRedisUrl: queueRedis.url });
    cleanups.push(() => fx.close());
    await queueRedis.stop();

    const { res, ms } = await post(fx, { ...auth(), 'idempotency-key': 'queue-down' });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('INGRESS_UNAVAILABLE');
    expect(ms).toBeLessThan(3000);
    expect(await fx.redis.zcard(fx.keys.taskIndex)).toBe(0);
    expect(await fx.redis.xlen(fx.keys.relayTasks)).toBe(0);
    expect(await fx.redis.keys(`${fx.keys.prefix}:task:*`)).toEqual([]);
    expect(await fx.redis.keys(`${fx.keys.prefix}:events:*`)).toEqual([]);
    expect(await fx.redis.keys(`${fx.keys.prefix}:idem:*`)).toEqual([]);
  });
});
