import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskRecord } from '@agentq/shared';
import { FakeSlack, slackSignatureHeaders, waitFor, type FakeSlackMessage } from '@agentq/shared/testing';
import { startStack, type Stack } from './support/stack.js';

const SIGNING_SECRET = 'e2e-slack-signing-secret';
const BOT_TOKEN = 'xoxb-e2e-0000-bot-token';
const TEAM = 'T0FAKE';
const CHANNEL = 'C0E2E';
const USER = 'U0ALICE';
const BOT_USER = 'U0AGENTQ';

let sent = 0;

/** Posts to /slack/events exactly as Slack does: raw body, signed. */
async function slackPost(stack: Stack, body: string, contentType: string): Promise<Response> {
  return fetch(`${stack.url}/slack/events`, {
    method: 'POST',
    headers: { 'content-type': contentType, ...slackSignatureHeaders(SIGNING_SECRET, body) },
    body,
  });
}

function slashCommand(stack: Stack, fake: FakeSlack, text: string): Promise<Response> {
  sent += 1;
  const form = new URLSearchParams({
    token: 'deprecated',
    team_id: TEAM,
    team_domain: 'fake',
    channel_id: CHANNEL,
    channel_name: 'e2e',
    user_id: USER,
    user_name: 'alice',
    command: '/agent',
    text,
    api_app_id: 'A0AGENTQ',
    is_enterprise_install: 'false',
    response_url: fake.responseUrl(`command-${sent}`),
    trigger_id: `${Date.now()}.${sent}.e2e`,
  });
  return slackPost(stack, form.toString(), 'application/x-www-form-urlencoded');
}

function mention(stack: Stack, text: string, threadTs: string): Promise<Response> {
  sent += 1;
  const ts = `${Math.floor(Date.now() / 1000)}.${String(sent).padStart(6, '0')}`;
  const body = JSON.stringify({
    token: 'deprecated',
    team_id: TEAM,
    api_app_id: 'A0AGENTQ',
    event: { type: 'app_mention', user: USER, text: `<@${BOT_USER}> ${text}`, ts, thread_ts: threadTs, channel: CHANNEL, team: TEAM, event_ts: ts },
    type: 'event_callback',
    event_id: `Ev0E2E${sent}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ enterprise_id: null, team_id: TEAM, user_id: BOT_USER, is_bot: true, is_enterprise_install: false }],
  });
  return slackPost(stack, body, 'application/json');
}

function kindOf(message: FakeSlackMessage, taskId: string): string | undefined {
  const payload = message.metadata?.event_payload;
  return payload?.taskId === taskId ? String(payload.kind) : undefined;
}

async function finalRecord(stack: Stack, id: string): Promise<TaskRecord> {
  return waitFor(
    async () => {
      const task = (await (await stack.api(`/v1/tasks/${id}`)).json()) as TaskRecord;
      return ['succeeded', 'failed', 'canceled', 'timed_out'].includes(task.state) ? task : undefined;
    },
    { timeoutMs: 45_000, intervalMs: 100, what: `task ${id} to end` },
  );
}

describe('Slack end to end, three services as processes', () => {
  let fake: FakeSlack;
  let stack: Stack;

  beforeAll(async () => {
    fake = await new FakeSlack({ tokens: [BOT_TOKEN], teamId: TEAM, botUserId: BOT_USER }).start();
    stack = await startStack({
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: fake.apiUrl,
      AGENTQ_SLACK_STATUS_INTERVAL_MS: '500',
    });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
    await fake?.stop();
  });

  it('takes a slash command to one status message, milestones and exactly one summary, through a 429 storm', async () => {
    // the ingress learned its bot's identity when it started
    await waitFor(() => fake.succeeded('auth.test').length > 0, { what: 'auth.test at start' });
    // Slack rate-limits the next calls, whatever they are
    fake.fail({ status: 429, retryAfter: 1, count: 6 });
    const res = await slashCommand(stack, fake, 'demo/hello add a CONTRIBUTING.md');
    expect(res.status).toBe(200);
    const ack = (await res.json()) as { response_type: string; text: string };
    expect(ack.response_type).toBe('ephemeral');
    const id = /`([0-9a-hjkmnp-tv-z]{26})`/.exec(ack.text)?.[1] as string;
    expect(id).toBeDefined();

    const task = await finalRecord(stack, id);
    expect(task.state).toBe('succeeded');
    const summary = await waitFor(() => fake.messages.find((m) => kindOf(m, id) === 'summary'), { timeoutMs: 30_000, what: 'the summary' });
    // give a late duplicate the chance to show up before counting
    await new Promise((r) => setTimeout(r, 1500));

    const mine = fake.messages.filter((m) => kindOf(m, id) !== undefined);
    const kinds = mine.map((m) => kindOf(m, id));
    expect(kinds.filter((k) => k === 'summary')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'status')).toHaveLength(1);
    expect(kinds).toContain('started');
    expect(kinds).toContain('pushed');
    expect(fake.calls.filter((c) => c.status === 429).length).toBe(6);

    // the status message is the thread root in the channel, recorded on the task; the rest is in its thread
    const status = mine.find((m) => kindOf(m, id) === 'status') as FakeSlackMessage;
    expect(status.channel).toBe(CHANNEL);
    expect(status.thread_ts).toBeUndefined();
    const record = (await (await stack.api(`/v1/tasks/${id}`)).json()) as TaskRecord;
    expect(record.slack).toMatchObject({ teamId: TEAM, channel: CHANNEL, userId: USER, threadTs: status.ts, statusTs: status.ts });
    expect(summary.thread_ts).toBe(status.ts);
    expect(JSON.stringify(summary.blocks)).toContain(task.branch as string);
    // the status message was updated in place to the final state
    expect(JSON.stringify(status.blocks)).toMatch(/Succeeded/);
    // no token in anything posted or logged
    expect(JSON.stringify(fake.messages)).not.toContain(BOT_TOKEN);
    expect(stack.logs()).not.toContain(BOT_TOKEN);
    expect(stack.logs()).not.toContain(SIGNING_SECRET);
  });

  it('runs a mention in the task thread as a follow-up on the same branch, resuming the session', async () => {
    const res = await slashCommand(stack, fake, 'demo/hello add a CONTRIBUTING.md');
    const id = /`([0-9a-hjkmnp-tv-z]{26})`/.exec(((await res.json()) as { text: string }).text)?.[1] as string;
    const first = await finalRecord(stack, id);
    const thread = await waitFor(async () => ((await (await stack.api(`/v1/tasks/${id}`)).json()) as TaskRecord).slack?.threadTs, {
      timeoutMs: 20_000,
      what: 'the thread of the first task',
    });

    const reply = await mention(stack, 'also add a SECURITY.md', thread);
    expect(reply.status).toBe(200);
    const followUp = await waitFor(
      async () => ((await (await stack.api('/v1/tasks?limit=20')).json()) as { tasks: TaskRecord[] }).tasks.find((t) => t.followUpOf === id),
      { timeoutMs: 10_000, what: 'the follow-up task' },
    );
    const done = await finalRecord(stack, followUp.id);
    expect(done.state).toBe('succeeded');
    expect(done.branch).toBe(first.branch);
    expect(done.baseCommit).toBe(first.commit);
    expect(done.sessionId).toBe(first.sessionId);
    expect(done.slack?.threadTs).toBe(thread);
    await waitFor(() => fake.messages.find((m) => kindOf(m, followUp.id) === 'summary' && m.thread_ts === thread), {
      timeoutMs: 30_000,
      what: "the follow-up's summary in the same thread",
    });
  });
});
