import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlackThreads, newTaskId, redisKeys, type SlackThread } from '../src/index.js';
import { startTestRedis, uniquePrefix, type TestRedis } from '../src/testing/index.js';

let redis: TestRedis;
let client: Redis;

beforeAll(async () => {
  redis = await startTestRedis();
  client = new Redis(redis.url);
});
afterAll(async () => {
  client.disconnect();
  await redis.stop();
});

function setup() {
  const keys = redisKeys(uniquePrefix('thread'));
  const thread: SlackThread = { teamId: 'T1', channel: 'C1', threadTs: '1800000000.000100' };
  return { keys, thread, threads: new SlackThreads(client, keys) };
}

describe('SlackThreads', () => {
  it('reads nothing for a thread no task started, and ignores a value that is no task id', async () => {
    const { keys, thread, threads } = setup();
    expect(await threads.latestTask(thread)).toBeUndefined();
    await client.set(keys.slackThread(thread.teamId, thread.channel, thread.threadTs), 'not-a-task');
    expect(await threads.latestTask(thread)).toBeUndefined();
  });

  it('points a thread the task started at it only while nothing points it elsewhere (NX)', async () => {
    const { keys, thread, threads } = setup();
    const first = newTaskId();
    const followUp = newTaskId();
    expect(await threads.startedBy(thread, first)).toBe(true);
    expect(await threads.latestTask(thread)).toBe(first);
    expect(await client.get(keys.slackThread('T1', 'C1', thread.threadTs))).toBe(first);
    expect(await client.ttl(keys.slackThread('T1', 'C1', thread.threadTs))).toBe(-1);
    // a follow-up moved the thread on before the relay recorded the first task's status message
    expect(await threads.moveTo(thread, followUp, first)).toBe(true);
    expect(await threads.startedBy(thread, first)).toBe(false);
    expect(await threads.latestTask(thread)).toBe(followUp);
    // another thread of the same channel is another key
    expect(await threads.latestTask({ ...thread, threadTs: '1800000000.000200' })).toBeUndefined();
    expect(await threads.latestTask({ ...thread, channel: 'C2' })).toBeUndefined();
  });

  it('moves a thread to a newer task unless another task took it over since it was read', async () => {
    const { thread, threads } = setup();
    const parent = newTaskId();
    const a = newTaskId();
    const b = newTaskId();
    expect(await threads.moveTo(thread, parent, undefined)).toBe(true);
    const seen = await threads.latestTask(thread);
    expect(seen).toBe(parent);
    // two follow-ups raced from the same read: the first one wins, the second one does not take over
    expect(await threads.moveTo(thread, a, seen)).toBe(true);
    expect(await threads.moveTo(thread, b, seen)).toBe(false);
    expect(await threads.latestTask(thread)).toBe(a);
    // a redelivery of the winner keeps it
    expect(await threads.moveTo(thread, a, seen)).toBe(true);
    expect(await threads.latestTask(thread)).toBe(a);
    // read before anything pointed at the thread: a task that came first keeps it
    const { thread: fresh, threads: other } = setup();
    expect(await other.moveTo(fresh, a, undefined)).toBe(true);
    expect(await other.moveTo(fresh, b, undefined)).toBe(false);
    expect(await other.latestTask(fresh)).toBe(a);
  });

  it('replaces a value that is no task id', async () => {
    const { keys, thread, threads } = setup();
    await client.set(keys.slackThread(thread.teamId, thread.channel, thread.threadTs), 'garbage');
    const id = newTaskId();
    expect(await threads.moveTo(thread, id, undefined)).toBe(true);
    expect(await threads.latestTask(thread)).toBe(id);
  });
});
