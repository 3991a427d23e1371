import { startTestRedis, waitFor, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CHANNEL, TEAM, USER, ackText, allTasks, buttonClick, responses, slashCommand, startSlackIngress, taskIdIn, type SlackFixture } from './slack-fixture.js';

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

const THREAD_TS = '1800001000.000100';
const STATUS = { ts: THREAD_TS };

/** A task queued with the slash command, with its status message posted (as the relay does). */
async function queuedTask(text = 'demo/hello add a CONTRIBUTING.md --model claude-test-1'): Promise<string> {
  const id = taskIdIn(ackText(await slashCommand(fx, text)));
  const record = await fx.store.require(id);
  await fx.store.update(id, { slack: { ...(record.slack as NonNullable<typeof record.slack>), threadTs: THREAD_TS, statusTs: THREAD_TS } });
  await fx.redis.set(fx.keys.slackThread(TEAM, CHANNEL, THREAD_TS), id);
  return id;
}

async function answerTo(id: string, count: number): Promise<string> {
  const found = await waitFor(() => {
    const mine = responses(fx.fake).filter((r) => r.id === `action-${id}`);
    return mine.length >= count ? mine : undefined;
  });
  return found[count - 1]?.text ?? '';
}

describe('the Cancel button', () => {
  it('cancels for the person who asked and for admins, not for others', async () => {
    fx = await startSlackIngress(redis.url, { policy: 'admins: [U0ADMIN]\n' });
    const first = await queuedTask();
    const second = await queuedTask('demo/hello another one');

    const bob = await buttonClick(fx, 'agentq_cancel', first, { userId: 'U0BOB', message: STATUS });
    expect(bob.statusCode).toBe(200);
    expect(await answerTo(first, 1)).toMatch(/only the person who asked/);
    expect((await fx.store.require(first)).state).toBe('queued');

    await buttonClick(fx, 'agentq_cancel', first, { userId: USER, message: STATUS });
    expect(await answerTo(first, 2)).toContain(`Canceled \`${first}\``);
    expect((await fx.store.require(first)).state).toBe('canceled');
    expect(await fx.queue.getJob(first)).toBeUndefined();

    await buttonClick(fx, 'agentq_cancel', second, { userId: 'U0ADMIN', message: STATUS });
    expect(await answerTo(second, 1)).toContain(`Canceled \`${second}\``);
    expect((await fx.store.require(second)).state).toBe('canceled');

    const call = fx.fake.calls.find((c) => c.method === 'response_url');
    expect(call?.args).toMatchObject({ response_type: 'ephemeral', replace_original: false });
  });

  it('flags a running task for the dispatcher', async () => {
    fx = await startSlackIngress(redis.url);
    const id = await queuedTask();
    await fx.store.transition(id, 'starting');
    await fx.store.transition(id, 'running');
    await buttonClick(fx, 'agentq_cancel', id, { userId: USER, message: STATUS });
    expect(await answerTo(id, 1)).toContain('Cancel requested');
    expect((await fx.store.require(id)).cancelRequested).toBe(true);
  });
});

describe('the Retry button', () => {
  it('queues the same request again as a fresh run in the same thread, once per click', async () => {
    fx = await startSlackIngress(redis.url);
    const original = await queuedTask('demo/hello add a CONTRIBUTING.md --model claude-test-1 --max-turns 3 --priority low');
    await fx.store.transition(original, 'failed', { error: { code: 'X', message: 'boom' } });

    const trigger = 'retry-trigger-1';
    const res = await buttonClick(fx, 'agentq_retry', original, { userId: 'U0BOB', message: STATUS, triggerId: trigger });
    expect(res.statusCode).toBe(200);
    const retry = taskIdIn((await answerTo(original, 1)).replace(`\`${original}\``, ''));
    expect(retry).not.toBe(original);
    const record = await fx.store.require(retry);
    expect(record).toMatchObject({
      state: 'queued',
      repo: 'demo/hello',
      prompt: 'add a CONTRIBUTING.md',
      model: 'claude-test-1',
      limits: { maxTurns: 3 },
      priority: 'low',
      source: 'slack',
      slack: { teamId: TEAM, channel: CHANNEL, userId: 'U0BOB', threadTs: THREAD_TS },
    });
    expect(record.followUpOf).toBeUndefined();
    expect(record.after).toBeUndefined();
    expect((await fx.queue.getJob(retry))?.opts.priority).toBe(3);
    expect(await fx.redis.get(fx.keys.slackThread(TEAM, CHANNEL, THREAD_TS))).toBe(retry);

    // the same interaction delivered again: no second retry
    await buttonClick(fx, 'agentq_retry', original, { userId: 'U0BOB', message: STATUS, triggerId: trigger }, { retryNum: 1 });
    expect(taskIdIn((await answerTo(original, 2)).replace(`\`${original}\``, ''))).toBe(retry);
    expect(await allTasks(fx)).toHaveLength(2);
  });
});
