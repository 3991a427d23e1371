import { FsTranscriptArchive, TaskStore, redisKeys, type RedisKeys } from '@agentq/shared';
import { FakeSlack, makeTempDir, uniquePrefix, waitFor } from '@agentq/shared/testing';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { startRelay, type Relay, type RelayDeps } from '../src/index.js';
import {
  BOT_TOKEN,
  CHANNEL,
  INTERVAL_MS,
  TEAM,
  agentEvents,
  append,
  captureLogger,
  countsOf,
  messagesOf,
  only,
  publishEvents,
  runTask,
  slackRelayConfig,
  slackRelayEnv,
  submitSlackTask,
  succeed,
  textOf,
} from './slack-support.js';
import { expectArchived, spawnRelay, startTask, testLogger, type RelayProcess, useRelayRedis } from './support.js';

const db = useRelayRedis();
const { cleanups } = db;

interface Setup {
  prefix: string;
  keys: RedisKeys;
  store: TaskStore;
  dataDir: string;
  archive: FsTranscriptArchive;
  fake: FakeSlack;
  relay(options?: Partial<RelayDeps>): Relay;
  spawn(): RelayProcess;
}

async function setup(tokens = [BOT_TOKEN]): Promise<Setup> {
  const prefix = uniquePrefix('relaysf');
  const keys = redisKeys(prefix);
  const dir = await makeTempDir('agentq-relay-slack-');
  cleanups.push(dir.remove);
  const fake = await new FakeSlack({ tokens }).start();
  cleanups.push(() => fake.stop());
  const env = { redisUrl: db.url, prefix, dataDir: dir.path, consumer: 'relay-1', apiUrl: fake.apiUrl };
  return {
    prefix,
    keys,
    store: new TaskStore(db.client, keys),
    dataDir: dir.path,
    archive: FsTranscriptArchive.forDataDir(dir.path),
    fake,
    relay(options = {}) {
      const relay = startRelay({
        config: slackRelayConfig(env),
        logger: testLogger(),
        slack: { queuePollMs: 200, retryBaseMs: 100, retryMaxMs: 1000 },
        ...options,
      });
      cleanups.push(() => relay.close());
      return relay;
    },
    spawn() {
      const relay = spawnRelay(slackRelayEnv(env));
      cleanups.push(() => relay.kill('SIGKILL'));
      return relay;
    },
  };
}

async function pendingEntries(keys: RedisKeys): Promise<number> {
  return ((await db.client.xpending(keys.relayTasks, 'relay')) as [number])[0];
}

function expectEachOnce(fake: FakeSlack, id: string, kinds: string[]): void {
  expect(countsOf(fake, id)).toEqual(Object.fromEntries(kinds.map((k) => [k, 1])));
}

describe('slack sink under faults', () => {
  it('429 storm and 5xx: updates coalesce, the summary arrives once, the task is acknowledged only after it', async () => {
    const s = await setup();
    const registry = new Registry();
    s.relay({ registry });
    const id = await submitSlackTask(s.store, db.client, s.keys);
    // every call is rate limited for a while (Retry-After: 1 s) while the agent keeps writing
    s.fake.fail({ status: 429, retryAfter: 1, count: 3 });
    await startTask(s.store, id);
    await append(s.store, id, agentEvents(20), 40, 2);
    await waitFor(() => messagesOf(s.fake, id).started, { what: 'started milestone after the storm', timeoutMs: 20_000 });
    await append(s.store, id, publishEvents());
    await waitFor(() => messagesOf(s.fake, id).pushed, { what: 'pushed milestone' });
    // Slack fails with 503 when the summary is posted
    s.fake.fail({ method: 'chat.postMessage', status: 503, count: 3 });
    await succeed(s.store, id);
    // the transcript is complete at once; the task stays owned until the summary is posted
    await waitFor(() => s.archive.readTask(id), { what: 'task.json' });
    expect(messagesOf(s.fake, id).summary).toBeUndefined();
    expect(await pendingEntries(s.keys)).toBe(1);
    const summary = await waitFor(() => messagesOf(s.fake, id).summary?.[0], { what: 'summary', timeoutMs: 20_000 });
    await waitFor(async () => (await pendingEntries(s.keys)) === 0, { what: 'task list entry acknowledged' });

    expectEachOnce(s.fake, id, ['status', 'started', 'pushed', 'summary']);
    expect(textOf(summary)).toContain('Succeeded');
    expect(textOf(only(s.fake, id, 'status'))).toContain('Succeeded');
    // each 429 was waited out for its Retry-After (1 s) before Slack was called again
    const limited = s.fake.calls.filter((c) => c.status === 429);
    expect(limited).toHaveLength(3);
    for (const call of limited) {
      const next = s.fake.calls[s.fake.calls.indexOf(call) + 1];
      expect((next?.at ?? Infinity) - call.at).toBeGreaterThanOrEqual(1000);
    }
    expect(s.fake.calls.filter((c) => c.status === 503)).toHaveLength(3);
    // 67 events, a handful of updates: no more than one per interval since the status was posted
    const statusTs = only(s.fake, id, 'status').ts;
    const updates = s.fake.succeeded('chat.update').filter((c) => c.args.ts === statusTs);
    const first = s.fake.succeeded('chat.postMessage')[0]?.at ?? 0;
    const last = updates[updates.length - 1]?.at ?? first;
    expect(updates.length).toBeGreaterThanOrEqual(1);
    expect(updates.length).toBeLessThanOrEqual(Math.floor((last - first) / INTERVAL_MS) + 1);
    for (let i = 1; i < updates.length; i++) expect((updates[i]?.at ?? 0) - (updates[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(INTERVAL_MS - 5);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/agentq_relay_slack_rate_limited_total\{method="[a-z.A-Z]+"\} [1-3]\b/);
    expect(metrics).toMatch(/agentq_relay_slack_calls_total\{method="chat.postMessage",outcome="http_error"\} 3\b/);
    expect(metrics).toMatch(/agentq_relay_slack_summaries_delivered_total 1\b/);
    // the client retried the rate-limited calls itself: none failed back to the sink
    expect(metrics).not.toContain('outcome="rate_limited"');
    await expectArchived(s.store, s.archive, db.client, id);
  });

  it('new relay after close, with posts whose ts was never recorded: finds them by their metadata, posts nothing twice', async () => {
    const s = await setup();
    const first = s.relay();
    const id = await submitSlackTask(s.store, db.client, s.keys);
    await startTask(s.store, id);
    await append(s.store, id, agentEvents(3));
    await waitFor(() => messagesOf(s.fake, id).started, { what: 'started milestone' });
    const root = only(s.fake, id, 'status');
    await waitFor(async () => (await s.store.get(id))?.slack?.statusTs === root.ts, { what: 'status recorded' });
    await first.close();

    // the crash window: the posts landed, their ts never reached Redis (the attempts did)
    const delivery = s.keys.slackDelivery(id);
    expect(await db.client.hget(delivery, 'posting:status')).not.toBeNull();
    expect(await db.client.hget(delivery, 'posting:started')).not.toBeNull();
    await db.client.hdel(delivery, 'ts:status', 'ts:started', 'thread');
    await s.store.update(id, { slack: { teamId: TEAM, channel: CHANNEL, userId: 'U0REQUESTER' } });
    await db.client.del(s.keys.slackThread(TEAM, CHANNEL, root.ts));

    s.relay();
    await append(s.store, id, publishEvents());
    await succeed(s.store, id);
    await waitFor(() => messagesOf(s.fake, id).summary, { what: 'summary' });
    await waitFor(async () => (await pendingEntries(s.keys)) === 0, { what: 'task list entry acknowledged' });
    expectEachOnce(s.fake, id, ['status', 'started', 'pushed', 'summary']);
    for (const kind of ['started', 'pushed', 'summary']) expect(only(s.fake, id, kind).thread_ts).toBe(root.ts);
    // found again through the channel (the thread's first message) and the thread
    expect(s.fake.succeeded('conversations.history').length).toBeGreaterThanOrEqual(1);
    expect(s.fake.succeeded('conversations.replies').length).toBeGreaterThanOrEqual(1);
    expect((await s.store.require(id)).slack).toMatchObject({ threadTs: root.ts, statusTs: root.ts });
    expect(await db.client.get(s.keys.slackThread(TEAM, CHANNEL, root.ts))).toBe(id);
    await waitFor(() => textOf(only(s.fake, id, 'status')).includes('Succeeded'), { what: 'final status' });
    expect(await db.client.hgetall(delivery)).toMatchObject({ 'ts:status': root.ts, 'ts:summary': expect.any(String) as string, finalRendered: '1' });
    expect(await db.client.ttl(delivery)).toBeGreaterThan(0);
  });

  it('relay process killed with SIGKILL mid-task and started again: every message once, the summary once', async () => {
    const s = await setup();
    const ids = [await submitSlackTask(s.store, db.client, s.keys), await submitSlackTask(s.store, db.client, s.keys, { threadTs: '1700000000.000200' })];
    const first = s.spawn();
    await Promise.all(ids.map((id) => startTask(s.store, id)));
    const writing = Promise.all(ids.map((id) => append(s.store, id, agentEvents(30), 20, 2)));
    await waitFor(() => ids.every((id) => messagesOf(s.fake, id).started), { what: 'started milestones', timeoutMs: 20_000 });
    // keep the agents busy until the first relay has updated a status message in place (a slow start
    // may have let it post the status after every event of the first batch was in)
    await waitFor(
      async () => {
        if (s.fake.succeeded('chat.update').length >= 1) return true;
        await Promise.all(ids.map((id) => append(s.store, id, agentEvents(1))));
        return false;
      },
      { what: 'a status update', intervalMs: 250, timeoutMs: 15_000 },
    );
    await first.kill('SIGKILL');
    await writing;
    for (const id of ids) await append(s.store, id, publishEvents());
    await succeed(s.store, ids[0] ?? '');
    await s.store.transition(ids[1] ?? '', 'timed_out', { error: { code: 'DISPATCH_TIMEOUT', message: 'the task ran longer than its limit of 60 s' } });
    const second = s.spawn();
    await waitFor(() => ids.every((id) => messagesOf(s.fake, id).summary), { what: 'summaries', timeoutMs: 20_000 });
    await waitFor(async () => (await pendingEntries(s.keys)) === 0, { what: 'task list entries acknowledged' });
    expectEachOnce(s.fake, ids[0] ?? '', ['status', 'started', 'pushed', 'summary']);
    expectEachOnce(s.fake, ids[1] ?? '', ['status', 'started', 'pushed', 'ended', 'summary']);
    expect(textOf(only(s.fake, ids[1] ?? '', 'ended'))).toContain('`DISPATCH_TIMEOUT`');
    expect(second.output()).toContain('slack summary posted');
    for (const id of ids) await expectArchived(s.store, s.archive, db.client, id);
  });

  it('invalid_auth stops Slack delivery of that task with a logged code; other tasks and the transcript are unaffected', async () => {
    const good = 'xoxb-good-workspace-token';
    const s = await setup([good]);
    const { logger, lines } = captureLogger();
    const resolved: string[] = [];
    s.relay({
      logger,
      slackToken: async ({ teamId }) => {
        resolved.push(teamId);
        return teamId === 'T0REVOKED' ? 'xoxb-revoked-token' : good;
      },
    });
    const bad = await submitSlackTask(s.store, db.client, s.keys, { teamId: 'T0REVOKED' });
    const fine = await submitSlackTask(s.store, db.client, s.keys, { teamId: 'T0FINE' });
    await Promise.all([runTask(s.store, bad, { pauseMs: 10 }), runTask(s.store, fine, { pauseMs: 10 })]);
    await waitFor(() => messagesOf(s.fake, fine).summary, { what: 'summary of the other task' });
    await expectArchived(s.store, s.archive, db.client, bad);
    await waitFor(async () => (await pendingEntries(s.keys)) === 0, { what: 'both task list entries acknowledged' });

    expect(countsOf(s.fake, bad)).toEqual({});
    expectEachOnce(s.fake, fine, ['status', 'started', 'pushed', 'summary']);
    // one refused call, the token asked again once (a reinstall would have given a new one), then stopped
    expect(s.fake.calls.filter((c) => c.token === 'xoxb-revoked-token')).toHaveLength(1);
    expect(resolved.filter((t) => t === 'T0REVOKED')).toHaveLength(2);
    const stopped = lines().filter((l) => l.code === 'RELAY_SLACK_AUTH_FAILED');
    expect(stopped).toHaveLength(1);
    expect(stopped[0]).toMatchObject({ taskId: bad, slackError: 'invalid_auth', level: 50 });
    expect(await db.client.hget(s.keys.slackDelivery(bad), 'stopped')).toBe('RELAY_SLACK_AUTH_FAILED');
    expect(JSON.stringify(lines())).not.toContain('xoxb-');
  });
});
