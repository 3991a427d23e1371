import { startTestRedis } from '@agentq/shared/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { ackText, eventCallback, mention, slashCommand, startSlackIngress } from './slack-fixture.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('Slack while Redis is unavailable', () => {
  it('answers the slash command "unavailable" promptly', async () => {
    const redis = await startTestRedis({ private: true });
    cleanups.push(() => redis.stop());
    const fx = await startSlackIngress(redis.url);
    cleanups.push(() => fx.close());
    await redis.stop();

    const started = Date.now();
    const res = await slashCommand(fx, 'demo/hello add a CONTRIBUTING.md');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(res.statusCode).toBe(200);
    expect(ackText(res)).toBe(':warning: agentq is unavailable, try again in a moment.');
  });

  it('leaves nothing behind when the job cannot be queued', async () => {
    const storeRedis = await startTestRedis();
    cleanups.push(() => storeRedis.stop());
    const queueRedis = await startTestRedis({ private: true });
    cleanups.push(() => queueRedis.stop());
    const fx = await startSlackIngress(storeRedis.url, { queueRedisUrl: queueRedis.url });
    cleanups.push(() => fx.close());
    await queueRedis.stop();

    const res = await slashCommand(fx, 'demo/hello add a CONTRIBUTING.md');
    expect(ackText(res)).toMatch(/unavailable, try again/);
    expect(await fx.redis.zcard(fx.keys.taskIndex)).toBe(0);
    expect(await fx.redis.xlen(fx.keys.relayTasks)).toBe(0);
    expect(await fx.redis.keys(`${fx.keys.prefix}:task:*`)).toEqual([]);
    expect(await fx.redis.keys(`${fx.keys.prefix}:idem:*`)).toEqual([]);
  });

  it('fails a mention with 500 so that Slack delivers it again, and says so on the last delivery', async () => {
    const storeRedis = await startTestRedis();
    cleanups.push(() => storeRedis.stop());
    const queueRedis = await startTestRedis({ private: true });
    cleanups.push(() => queueRedis.stop());
    const fx = await startSlackIngress(storeRedis.url, { queueRedisUrl: queueRedis.url });
    cleanups.push(() => fx.close());
    await queueRedis.stop();

    const event = mention('demo/hello add a CONTRIBUTING.md', '1800003000.000100');
    expect((await eventCallback(fx, event, { eventId: 'Ev0DOWN' })).statusCode).toBe(500);
    expect((await eventCallback(fx, event, { eventId: 'Ev0DOWN' }, { retryNum: 1 })).statusCode).toBe(500);
    expect(fx.fake.calls.filter((c) => c.method === 'chat.postEphemeral')).toEqual([]);
    const last = await eventCallback(fx, event, { eventId: 'Ev0DOWN' }, { retryNum: 3 });
    expect(last.statusCode).toBe(200);
    const told = fx.fake.succeeded('chat.postEphemeral');
    expect(told.map((c) => c.args.text)).toEqual([':warning: agentq is unavailable, try again in a moment.']);
    expect(await fx.redis.zcard(fx.keys.taskIndex)).toBe(0);
  });
});
