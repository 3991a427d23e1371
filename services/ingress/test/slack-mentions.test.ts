import { startTestRedis, waitFor, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { queueSnapshot } from './ingress-fixture.js';
import { BOT_USER, CHANNEL, TEAM, USER, allTasks, eventCallback, mention, startSlackIngress, type SlackFixture } from './slack-fixture.js';

let redis: TestRedis;
let fx: SlackFixture;

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis.stop();
});
afterEach(async () => {
  await fx.close();
});

const ROOT_TS = '1800000100.000100';

async function startThread(): Promise<string> {
  const res = await eventCallback(fx, mention('demo/hello add a CONTRIBUTING.md --max-turns=4', ROOT_TS), { eventId: 'Ev0ROOT' });
  expect(res.statusCode).toBe(200);
  const [task] = await allTasks(fx);
  if (!task) throw new Error('no task');
  return task.id;
}

describe('mentions', () => {
  it('start a task whose thread is the mention, once per event_id', async () => {
    fx = await startSlackIngress(redis.url);
    const id = await startThread();
    const record = await fx.store.require(id);
    expect(record).toMatchObject({
      repo: 'demo/hello',
      prompt: 'add a CONTRIBUTING.md',
      limits: { maxTurns: 4 },
      source: 'slack',
      team: 'default',
      slack: { teamId: TEAM, channel: CHANNEL, userId: USER, threadTs: ROOT_TS },
    });
    expect(record.followUpOf).toBeUndefined();
    expect(await fx.redis.get(fx.keys.slackThread(TEAM, CHANNEL, ROOT_TS))).toBe(id);

    const again = await eventCallback(fx, mention('demo/hello add a CONTRIBUTING.md --max-turns=4', ROOT_TS), { eventId: 'Ev0ROOT' }, { retryNum: 1 });
    expect(again.statusCode).toBe(200);
    expect(await queueSnapshot(fx)).toEqual({ jobs: 1, indexed: 1, relay: 1 });
  });

  it("in a task's thread queue a follow-up behind the thread's latest task", async () => {
    fx = await startSlackIngress(redis.url);
    const parent = await startThread();
    const reply = mention('now add a CODE_OF_CONDUCT.md too', '1800000200.000200', { thread_ts: ROOT_TS });
    expect((await eventCallback(fx, reply, { eventId: 'Ev0FOLLOW' })).statusCode).toBe(200);
    const [followUp] = await allTasks(fx);
    expect(followUp?.id).not.toBe(parent);
    expect(followUp).toMatchObject({
      repo: 'demo/hello',
      prompt: 'now add a CODE_OF_CONDUCT.md too',
      followUpOf: parent,
      after: parent,
      limits: { maxTurns: 4 },
      slack: { teamId: TEAM, channel: CHANNEL, userId: USER, threadTs: ROOT_TS },
    });
    const threadKey = fx.keys.slackThread(TEAM, CHANNEL, ROOT_TS);
    expect(await fx.redis.get(threadKey)).toBe(followUp?.id);

    // redelivered: still one follow-up, and the thread still points at it
    await eventCallback(fx, reply, { eventId: 'Ev0FOLLOW' }, { retryNum: 1 });
    expect(await allTasks(fx)).toHaveLength(2);
    expect(await fx.redis.get(threadKey)).toBe(followUp?.id);

    // the next follow-up continues the latest one; once that has ended, it waits for nothing
    await fx.store.transition(followUp?.id as string, 'canceled');
    await eventCallback(fx, mention('and a SECURITY.md', '1800000300.000300', { thread_ts: ROOT_TS }), { eventId: 'Ev0THIRD' });
    const [third] = await allTasks(fx);
    expect(third).toMatchObject({ followUpOf: followUp?.id, prompt: 'and a SECURITY.md' });
    expect(third?.after).toBeUndefined();
    expect(await fx.redis.get(threadKey)).toBe(third?.id);
  });

  it('take a priority; a follow-up keeps its parent’s unless it gives one', async () => {
    fx = await startSlackIngress(redis.url);
    await eventCallback(fx, mention('demo/hello --priority high add a CONTRIBUTING.md', ROOT_TS), { eventId: 'Ev0PRIO' });
    const [parent] = await allTasks(fx);
    expect(parent).toMatchObject({ priority: 'high', prompt: 'add a CONTRIBUTING.md' });
    expect((await fx.queue.getJob(parent?.id as string))?.opts.priority).toBe(1);

    await eventCallback(fx, mention('and a SECURITY.md', '1800000200.000200', { thread_ts: ROOT_TS }), { eventId: 'Ev0PRIO2' });
    const [kept] = await allTasks(fx);
    expect(kept).toMatchObject({ followUpOf: parent?.id, priority: 'high' });
    expect((await fx.queue.getJob(kept?.id as string))?.opts.priority).toBe(1);

    await eventCallback(fx, mention('no rush: a CODE_OF_CONDUCT.md --priority low', '1800000300.000300', { thread_ts: ROOT_TS }), { eventId: 'Ev0PRIO3' });
    const [lowered] = await allTasks(fx);
    expect(lowered).toMatchObject({ followUpOf: kept?.id, priority: 'low', prompt: 'no rush: a CODE_OF_CONDUCT.md' });
    expect((await fx.queue.getJob(lowered?.id as string))?.opts.priority).toBe(3);

    // a bad value is explained to the person and queues nothing
    await eventCallback(fx, mention('one more --priority asap', '1800000400.000400', { thread_ts: ROOT_TS }), { eventId: 'Ev0PRIO4' });
    await eventCallback(fx, mention('demo/hello --priority=asap a new thing', '1800000500.000500'), { eventId: 'Ev0PRIO5' });
    const answers = fx.fake.succeeded('chat.postEphemeral').map((c) => String(c.args.text));
    expect(answers).toEqual([
      ':warning: --priority must be one of low, normal, high.',
      ':warning: --priority must be one of low, normal, high.',
    ]);
    expect(await allTasks(fx)).toHaveLength(3);
  });

  it('explain themselves when they name no repository outside a task thread, and refuse other repositories in one', async () => {
    fx = await startSlackIngress(redis.url);
    await eventCallback(fx, mention('please help', '1800000400.000400', { thread_ts: '1800000399.000001' }), { eventId: 'Ev0USAGE' });
    const usage = fx.fake.succeeded('chat.postEphemeral');
    expect(usage).toHaveLength(1);
    expect(usage[0]?.args).toMatchObject({ channel: CHANNEL, user: USER, thread_ts: '1800000399.000001' });
    expect(String(usage[0]?.args.text)).toContain('@agentq owner/repo');

    await startThread();
    await eventCallback(fx, mention('other/repo do something', '1800000500.000500', { thread_ts: ROOT_TS }), { eventId: 'Ev0OTHER' });
    await eventCallback(fx, mention('unknown/repo do something', '1800000600.000600'), { eventId: 'Ev0UNKNOWN' });
    const answers = fx.fake.succeeded('chat.postEphemeral').map((c) => String(c.args.text));
    expect(answers[1]).toMatch(/this thread works on `demo\/hello`/);
    expect(answers[2]).toMatch(/not a repository agentq knows/);
    expect(await allTasks(fx)).toHaveLength(1);
    // every call was made with the configured bot token
    expect(new Set(fx.fake.calls.map((c) => c.token))).toEqual(new Set(['xoxb-0000-test-bot-token']));
  });

  it('ignore bot messages and the app itself', async () => {
    fx = await startSlackIngress(redis.url);
    await eventCallback(fx, mention('demo/hello do it', '1800000700.000700', { bot_id: 'B0OTHER', user: undefined }), { eventId: 'Ev0BOT' });
    await eventCallback(fx, mention('demo/hello do it', '1800000800.000800', { user: BOT_USER }), { eventId: 'Ev0SELF' });
    await eventCallback(fx, mention('demo/hello do it', '1800000900.000900', { subtype: 'bot_message', bot_id: 'B0AGENTQ' }), { eventId: 'Ev0SUB' });
    expect(await allTasks(fx)).toEqual([]);
    // the app answered nothing either (auth.test is how it learns who it is)
    await waitFor(() => fx.fake.calls.some((c) => c.method === 'auth.test'));
    expect(fx.fake.calls.filter((c) => c.method !== 'auth.test')).toEqual([]);
  });
});
