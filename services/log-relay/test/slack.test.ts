import { FsTranscriptArchive, TaskStore, openTaskQueue, redisKeys, shortId, type RedisKeys } from '@agentq/shared';
import { FakeSlack, makeTempDir, uniquePrefix, waitFor, type FakeSlackMessage } from '@agentq/shared/testing';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../src/index.js';
import {
  BOT_TOKEN,
  BRANCH,
  CHANNEL,
  COMMIT,
  INTERVAL_MS,
  PUBLIC_URL,
  TEAM,
  agentEvents,
  append,
  buttonsOf,
  countsOf,
  expectWithinLimits,
  messagesOf,
  only,
  publishEvents,
  runTask,
  slackRelayConfig,
  submitSlackTask,
  succeed,
  textOf,
} from './slack-support.js';
import { expectArchived, startTask, submitTask, testLogger, useRelayRedis } from './support.js';

const db = useRelayRedis();
const { cleanups } = db;

interface Setup {
  keys: RedisKeys;
  store: TaskStore;
  archive: FsTranscriptArchive;
  fake: FakeSlack;
  registry: Registry;
  relay(): Relay;
}

async function setup(slackOptions: { elapsedRefreshMs?: number } = {}): Promise<Setup> {
  const prefix = uniquePrefix('relays');
  const keys = redisKeys(prefix);
  const dir = await makeTempDir('agentq-relay-slack-');
  cleanups.push(dir.remove);
  const fake = await new FakeSlack({ tokens: [BOT_TOKEN] }).start();
  cleanups.push(() => fake.stop());
  const registry = new Registry();
  return {
    keys,
    store: new TaskStore(db.client, keys),
    archive: FsTranscriptArchive.forDataDir(dir.path),
    fake,
    registry,
    relay() {
      const relay = startRelay({
        config: slackRelayConfig({ redisUrl: db.url, prefix, dataDir: dir.path, consumer: 'relay-1', apiUrl: fake.apiUrl }),
        logger: testLogger(),
        registry,
        slack: { queuePollMs: 200, retryBaseMs: 100, retryMaxMs: 1000, ...slackOptions },
      });
      cleanups.push(() => relay.close());
      return relay;
    },
  };
}

/** The status message as it is now in the fake (posted, then updated in place). */
function status(fake: FakeSlack, id: string): FakeSlackMessage {
  return only(fake, id, 'status');
}

async function taskAcknowledged(keys: RedisKeys): Promise<boolean> {
  return ((await db.client.xpending(keys.relayTasks, 'relay')) as [number])[0] === 0 && (await db.client.xlen(keys.relayTasks)) === 0;
}

describe('slack sink', () => {
  it('slash command: the status message starts the thread, is updated in place, milestones and one summary follow', async () => {
    const s = await setup();
    // two tasks wait ahead of this one
    const queue = await openTaskQueue(db.client, s.keys);
    cleanups.push(() => queue.close());
    await queue.add('tasks', { taskId: 'ahead-1' }, { jobId: 'ahead-1' });
    await queue.add('tasks', { taskId: 'ahead-2' }, { jobId: 'ahead-2' });
    s.relay();
    const id = await submitSlackTask(s.store, db.client, s.keys);
    await queue.add('tasks', { taskId: id }, { jobId: id });

    // the status message: a new channel message (no thread), recorded on the task and for the thread
    const root = await waitFor(() => messagesOf(s.fake, id).status?.[0], { what: 'status message' });
    expect(root.channel).toBe(CHANNEL);
    expect(root.thread_ts).toBeUndefined();
    const record = await waitFor(async () => {
      const task = await s.store.get(id);
      return task?.slack?.statusTs ? task : undefined;
    });
    expect(record.slack).toMatchObject({ teamId: TEAM, channel: CHANNEL, threadTs: root.ts, statusTs: root.ts });
    expect(await db.client.get(s.keys.slackThread(TEAM, CHANNEL, root.ts))).toBe(id);
    await waitFor(() => textOf(status(s.fake, id)).includes('#3 in the queue'), { what: 'queue position 3' });
    expect(textOf(status(s.fake, id))).toContain('Queued');
    expect(buttonsOf(status(s.fake, id))).toEqual({ agentq_cancel: id });

    // a task ahead starts: the position is refreshed while queued
    await queue.remove('ahead-1');
    await waitFor(() => textOf(status(s.fake, id)).includes('#2 in the queue'), { what: 'queue position 2' });

    // the run: events over about two seconds
    await startTask(s.store, id);
    // the model gateway's running cost shows while the agent works
    await s.store.append(id, [{ kind: 'agent.usage', inputTokens: 10, outputTokens: 5, costUsd: 0.0042 }]);
    await waitFor(() => textOf(status(s.fake, id)).includes('$0.0042 so far'), { what: 'the metered cost in the status' });
    await append(s.store, id, agentEvents(12), 120, 2);
    // the cost comes with the agent's result, after its last tool call: waiting for it alone could
    // catch an update rendered between the two
    await waitFor(() => textOf(status(s.fake, id)).includes('$0.0123 so far'), { what: 'the cost in the status' });
    const running = textOf(status(s.fake, id));
    expect(running).toContain('12 tool calls');
    expect(running).toContain('Running');
    expect(running).toContain('step: `agent`');
    expect(running).toContain('last tool: `Bash`');
    expect(running).toContain('$0.0123 so far');
    expect(running).toMatch(/\d+s elapsed/);
    expect(buttonsOf(status(s.fake, id))).toEqual({ agentq_cancel: id });
    await append(s.store, id, publishEvents());
    await succeed(s.store, id);

    const summary = await waitFor(() => messagesOf(s.fake, id).summary?.[0], { what: 'summary' });
    await waitFor(() => taskAcknowledged(s.keys), { what: 'task list entry acknowledged' });
    expect(countsOf(s.fake, id)).toEqual({ status: 1, started: 1, pushed: 1, summary: 1 });
    for (const kind of ['started', 'pushed', 'summary']) expect(only(s.fake, id, kind).thread_ts).toBe(root.ts);
    expect(textOf(only(s.fake, id, 'started'))).toContain('Started');
    expect(textOf(only(s.fake, id, 'pushed'))).toContain(`*Pushed* \`${BRANCH}\` at \`1a2b3c4\` (2 files, +10 −3)`);

    const text = textOf(summary);
    expect(text).toContain('Succeeded');
    expect(text).toContain(`*Branch:* \`${BRANCH}\` at \`1a2b3c4\``);
    expect(text).toContain('*Changes:* 2 files, +10 −3');
    expect(text).toContain('Added CONTRIBUTING.md.');
    expect(text).toContain('4 turns');
    expect(text).toContain('$0.0123');
    expect(text).toContain('1m 05s');
    expect(text).toMatch(new RegExp(`<${PUBLIC_URL}/tasks/${id}\\?key=[A-Za-z0-9_-]+\\|View transcript>`));

    // the final state is rendered, without buttons once succeeded
    await waitFor(() => textOf(status(s.fake, id)).includes('Succeeded'), { what: 'final status' });
    expect(buttonsOf(status(s.fake, id))).toEqual({});
    // updated in place, never more often than the interval
    const updates = s.fake.succeeded('chat.update').filter((c) => c.args.ts === root.ts);
    expect(updates.length).toBeGreaterThanOrEqual(3);
    const posted = s.fake.succeeded('chat.postMessage').find((c) => (c.args.metadata as { event_payload: { kind: string } }).event_payload.kind === 'status');
    const times = [posted?.at ?? 0, ...updates.map((c) => c.at)];
    for (let i = 1; i < times.length; i++) expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(INTERVAL_MS - 5);
    // every message carries the task's metadata, and the bot token only went to Slack
    for (const call of s.fake.calls.filter((c) => c.method === 'chat.postMessage')) {
      expect(call.args.metadata).toMatchObject({ event_type: 'agentq_task', event_payload: { taskId: id } });
      expect(call.token).toBe(BOT_TOKEN);
    }
    const metrics = await s.registry.metrics();
    expect(metrics).toMatch(/agentq_relay_slack_summaries_delivered_total 1\b/);
    expect(metrics).toMatch(/agentq_relay_slack_calls_total\{method="chat.postMessage",outcome="ok"\} 4\b/);
    expect(await expectArchived(s.store, s.archive, db.client, id)).toHaveLength(1 + 2 + 1 + 39 + 4 + 1);
  });

  it('a waiting task: the status says why it waits and where it stands, before its place in the queue', async () => {
    const s = await setup();
    const queue = await openTaskQueue(db.client, s.keys);
    cleanups.push(() => queue.close());
    await queue.add('tasks', { taskId: 'ahead-1' }, { jobId: 'ahead-1' });
    const other = await submitSlackTask(s.store, db.client, s.keys, { prompt: 'the task ahead' });
    const id = await submitSlackTask(s.store, db.client, s.keys);
    await queue.add('tasks', { taskId: id }, { jobId: id });
    // the task waits before any relay follows it: what the dispatcher writes, record then event
    await s.store.update(id, { waiting: { reason: 'team', position: 2, since: new Date().toISOString() } });
    await s.store.append(id, [{ kind: 'task.waiting', reason: 'team', position: 2 }]);
    s.relay();

    const first = await waitFor(() => messagesOf(s.fake, id).status?.[0], { what: 'status message' });
    expect(textOf(first)).toContain('*Queued* · waiting: team limit reached (position 2)');
    expect(textOf(first)).not.toContain('in the queue');

    // the position moves on in the record alone
    await s.store.update(id, { waiting: { reason: 'team', position: 1, since: new Date().toISOString() } });
    await waitFor(() => textOf(status(s.fake, id)).includes('waiting: team limit reached (position 1)'), { what: 'position 1' });

    // another reason: the record and a task.waiting event
    await s.store.update(id, { waiting: { reason: 'predecessor', on: other, since: new Date().toISOString() } });
    await s.store.append(id, [{ kind: 'task.waiting', reason: 'predecessor', on: other }]);
    await waitFor(() => textOf(status(s.fake, id)).includes(`waiting for task \`${shortId(other)}\` to end`), { what: 'the predecessor' });

    // a newer event than the record read: the event is shown until the record says the same
    await s.store.append(id, [{ kind: 'task.waiting', reason: 'global', position: 4 }]);
    await waitFor(() => textOf(status(s.fake, id)).includes('waiting: no free slot (position 4)'), { what: 'the pool limit' });
    await new Promise((r) => setTimeout(r, 600)); // three queue polls
    expect(textOf(status(s.fake, id))).toContain('waiting: no free slot (position 4)');

    // started: no more waiting, whatever the record still says
    await startTask(s.store, id);
    await waitFor(() => textOf(status(s.fake, id)).includes('Running'), { what: 'running' });
    expect(textOf(status(s.fake, id))).not.toContain('waiting');
    await s.store.transition(id, 'canceled');
    await waitFor(() => messagesOf(s.fake, id).summary?.[0], { what: 'summary' });
  });

  it('mention: the status message is a reply in the thread; a failure is told with its reason and offers Retry', async () => {
    const s = await setup();
    s.relay();
    const threadTs = '1700000000.000100';
    const id = await submitSlackTask(s.store, db.client, s.keys, { threadTs });
    const reply = await waitFor(() => messagesOf(s.fake, id).status?.[0], { what: 'status reply' });
    expect(reply.thread_ts).toBe(threadTs);
    await waitFor(async () => (await s.store.get(id))?.slack?.statusTs === reply.ts, { what: 'statusTs recorded' });
    expect((await s.store.require(id)).slack?.threadTs).toBe(threadTs);
    // the ingress points the thread at its task; the sink does not
    expect(await db.client.get(s.keys.slackThread(TEAM, CHANNEL, threadTs))).toBeNull();
    expect(await db.client.get(s.keys.slackThread(TEAM, CHANNEL, reply.ts))).toBeNull();

    await startTask(s.store, id);
    await append(s.store, id, agentEvents(2));
    const error = { code: 'DISPATCH_AGENT_FAILED', message: 'tests <failed> & the build broke' };
    expect(await s.store.transition(id, 'failed', { error, turns: 2, costUsd: 0.5, durationMs: 3000 })).toMatchObject({ ok: true });

    const summary = await waitFor(() => messagesOf(s.fake, id).summary?.[0], { what: 'summary' });
    await waitFor(() => textOf(status(s.fake, id)).includes('Failed'), { what: 'final status' });
    expect(countsOf(s.fake, id)).toEqual({ status: 1, started: 1, ended: 1, summary: 1 });
    for (const kind of ['started', 'ended', 'summary']) expect(only(s.fake, id, kind).thread_ts).toBe(threadTs);
    const ended = textOf(only(s.fake, id, 'ended'));
    expect(ended).toContain('Failed');
    expect(ended).toContain('`DISPATCH_AGENT_FAILED`: tests &lt;failed&gt; &amp; the build broke');
    expect(textOf(summary)).toContain('*Reason:* `DISPATCH_AGENT_FAILED`');
    expect(textOf(summary)).toContain('2 turns');
    expect(textOf(summary)).toContain('$0.5000');
    expect(buttonsOf(status(s.fake, id))).toEqual({ agentq_retry: id });
    await waitFor(() => taskAcknowledged(s.keys), { what: 'task list entry acknowledged' });
  });

  it('an automatic follow-up of a pull request posts in the thread of its task and says why it started, with the link', async () => {
    const s = await setup();
    s.relay();
    const threadTs = '1700000000.000200';
    const checkUrl = 'https://github.com/demo/hello/runs/77';
    const id = await submitSlackTask(s.store, db.client, s.keys, {
      threadTs,
      prompt: 'The checks of pull request #12 failed: fix them.',
      fields: {
        source: 'github',
        github: { issueNumber: 12, isPullRequest: true },
        trigger: {
          kind: 'ci_failure',
          pullNumber: 12,
          headSha: COMMIT,
          url: checkUrl,
          checks: [
            { name: 'build', conclusion: 'failure', url: checkUrl },
            { name: 'lint <node & 20>', conclusion: 'failure', url: 'https://github.com/demo/hello/runs/78' },
          ],
          attempt: 2,
        },
      },
    });
    // the record has the thread of the original task and no status message yet: it posts its own there
    expect((await s.store.require(id)).slack?.statusTs).toBeUndefined();
    const reply = await waitFor(() => messagesOf(s.fake, id).status?.[0], { what: 'status reply' });
    expect(reply.thread_ts).toBe(threadTs);
    const why = `*Why:* fixing failing checks: build, lint &lt;node &amp; 20&gt; (attempt 2) · <${checkUrl}|the failing check>`;
    expect(textOf(reply)).toContain(why);
    await waitFor(async () => (await s.store.get(id))?.slack?.statusTs === reply.ts, { what: 'statusTs recorded' });
    expect((await s.store.require(id)).slack?.threadTs).toBe(threadTs);

    await runTask(s.store, id);
    const summary = await waitFor(() => messagesOf(s.fake, id).summary?.[0], { what: 'summary' });
    expect(summary.thread_ts).toBe(threadTs);
    expect(textOf(summary)).toContain(why);
    expect(textOf(status(s.fake, id))).toContain(why);
    expect(countsOf(s.fake, id).status).toBe(1);
  });

  it('an automatic follow-up of a review says whose review it answers', async () => {
    const s = await setup();
    s.relay();
    const reviewUrl = 'https://github.com/demo/hello/pull/12#pullrequestreview-5';
    const id = await submitSlackTask(s.store, db.client, s.keys, {
      threadTs: '1700000000.000300',
      fields: {
        source: 'github',
        github: { issueNumber: 12, isPullRequest: true },
        trigger: { kind: 'changes_requested', pullNumber: 12, reviewId: 5, url: reviewUrl, reviewer: 'alice', comments: [{ id: 9, path: 'a.ts', line: 3 }], attempt: 1 },
      },
    });
    const reply = await waitFor(() => messagesOf(s.fake, id).status?.[0], { what: 'status reply' });
    expect(textOf(reply)).toContain(`*Why:* answering the review of @alice (attempt 1) · <${reviewUrl}|the review>`);

    // the answers to the review's comments are posted on GitHub, not repeated in the summary
    await startTask(s.store, id);
    await succeed(s.store, id, 'Renamed the helper.\n[reply 9] Renamed it as asked.');
    const summary = await waitFor(() => messagesOf(s.fake, id).summary?.[0], { what: 'summary' });
    expect(textOf(summary)).toContain('Renamed the helper.');
    expect(textOf(summary)).not.toContain('[reply 9]');
  });

  it('keeps the elapsed time of a quiet running task current', async () => {
    const s = await setup({ elapsedRefreshMs: 1000 });
    s.relay();
    const id = await submitSlackTask(s.store, db.client, s.keys);
    await startTask(s.store, id);
    await waitFor(() => messagesOf(s.fake, id).status?.[0] && textOf(status(s.fake, id)).includes('elapsed'), { what: 'a running status' });
    const before = textOf(status(s.fake, id));
    const edits = status(s.fake, id).edited ?? 0;
    // no events at all: the message is refreshed anyway, with the time moved on
    await waitFor(() => (status(s.fake, id).edited ?? 0) >= edits + 2, { timeoutMs: 10_000, what: 'refreshes while quiet' });
    expect(textOf(status(s.fake, id))).not.toBe(before);
    expect(textOf(status(s.fake, id))).toMatch(/[1-9]\d*s elapsed/);
  });

  it('posts nothing for a task without a Slack context', async () => {
    const s = await setup();
    s.relay();
    const plain = await submitTask(s.store, db.client, s.keys);
    const slack = await submitSlackTask(s.store, db.client, s.keys);
    await runTask(s.store, plain);
    await runTask(s.store, slack);
    await waitFor(() => messagesOf(s.fake, slack).summary, { what: 'summary of the Slack task' });
    await expectArchived(s.store, s.archive, db.client, plain);
    await waitFor(() => taskAcknowledged(s.keys), { what: 'both task list entries acknowledged' });
    expect(countsOf(s.fake, plain)).toEqual({});
    expect(s.fake.messages.every((m) => m.metadata?.event_payload.taskId === slack)).toBe(true);
    expect(await db.client.exists(s.keys.slackDelivery(plain))).toBe(0);
  });

  it('keeps huge prompts, answers and reasons within Slack limits, and escapes mrkdwn', async () => {
    const s = await setup();
    s.relay();
    const prompt = `fix <script>alert(1)</script> & tell <!channel> ${'p'.repeat(60_000)}`;
    const id = await submitSlackTask(s.store, db.client, s.keys, { prompt });
    await startTask(s.store, id);
    const answer = `**Done** <@U0BOSS> & <!here> ${'a&<>'.repeat(30_000)}`;
    await append(s.store, id, [...agentEvents(3, { summary: answer, toolName: `<b>${'t'.repeat(5000)}` }), ...publishEvents()]);
    await succeed(s.store, id, answer);
    await waitFor(() => messagesOf(s.fake, id).summary, { what: 'summary' });
    await waitFor(() => textOf(status(s.fake, id)).includes('Succeeded'), { what: 'final status' });

    const sent = s.fake.calls.filter((c) => c.method === 'chat.postMessage' || c.method === 'chat.update');
    expect(sent.length).toBeGreaterThanOrEqual(4);
    for (const call of sent) {
      expect(call.status).toBe(200);
      expectWithinLimits(call.args);
      // what Slack parses as mrkdwn; plain_text (the summary's header) shows text as it is
      const text = textOf(call.args, { mrkdwn: true });
      expect(text).not.toContain('<script>');
      expect(text).not.toContain('<!channel>');
      expect(text).not.toContain('<!here>');
      expect(text).not.toContain('<@U0BOSS>');
      expect(text).not.toContain('<b>');
    }
    const header = (only(s.fake, id, 'summary').blocks as { type: string; text: { type: string; text: string } }[])[0];
    expect(header?.type).toBe('header');
    expect(header?.text.type).toBe('plain_text');
    expect(header?.text.text).toMatch(/^:white_check_mark: Succeeded: fix <script>.*…$/);
    const summary = textOf(only(s.fake, id, 'summary'));
    expect(summary).toContain('*Done* &lt;@U0BOSS&gt; &amp; &lt;!here&gt;');
    expect(summary).toContain('…');
    expect(textOf(status(s.fake, id))).toContain('fix &lt;script&gt;alert(1)&lt;/script&gt; &amp; tell &lt;!channel&gt;');
  });
});
