import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger, TaskRecord } from '@agentq/shared';
import { FakeSlack, makeTempDir, slackSignatureHeaders, type FakeSlackOptions } from '@agentq/shared/testing';
import type { LightMyRequestResponse } from 'fastify';
import { startIngress, type IngressFixture } from './ingress-fixture.js';

export const SIGNING_SECRET = 'slack-signing-secret-for-tests';
export const BOT_TOKEN = 'xoxb-0000-test-bot-token';
export const TEAM = 'T0FAKE';
export const BOT_USER = 'U0AGENTQ';
export const CHANNEL = 'C0GENERAL';
export const USER = 'U0ALICE';

export interface SlackFixture extends IngressFixture {
  fake: FakeSlack;
}

export interface SlackFixtureOptions {
  /** Policy file contents (YAML), written to a temp file and configured. */
  policy?: string;
  env?: Record<string, string>;
  fake?: FakeSlackOptions;
  /** Leave `SLACK_BOT_TOKEN` unset (install flow only). */
  noBotToken?: boolean;
  queueRedisUrl?: string;
  logger?: Logger;
}

/** An ingress with Slack on, talking to a fresh fake Slack Web API. */
export async function startSlackIngress(redisUrl: string, options: SlackFixtureOptions = {}): Promise<SlackFixture> {
  const fake = await new FakeSlack(options.fake).start();
  const dir = await makeTempDir('agentq-slack-policy-');
  const env: Record<string, string> = {
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: fake.apiUrl,
    AGENTQ_HARNESS: 'demo',
    ...(options.noBotToken ? {} : { SLACK_BOT_TOKEN: BOT_TOKEN }),
  };
  if (options.policy !== undefined) {
    const file = join(dir.path, 'policy.yaml');
    await writeFile(file, options.policy);
    env.AGENTQ_SLACK_POLICY_FILE = file;
  }
  let fx: IngressFixture;
  try {
    fx = await startIngress(redisUrl, { env: { ...env, ...options.env }, queueRedisUrl: options.queueRedisUrl, logger: options.logger });
  } catch (err) {
    await fake.stop();
    await dir.remove();
    throw err;
  }
  return {
    ...fx,
    fake,
    close: async () => {
      await fx.close();
      await fake.stop();
      await dir.remove();
    },
  };
}

export interface SendOptions {
  retryNum?: number;
  /** Request timestamp, seconds (default now). */
  timestamp?: number;
  /** Signs with this secret instead. */
  secret?: string;
}

/** A request to `POST /slack/events` signed as Slack signs it. */
export async function send(fx: IngressFixture, body: string, contentType: string, options: SendOptions = {}): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = {
    'content-type': contentType,
    ...slackSignatureHeaders(options.secret ?? SIGNING_SECRET, body, options.timestamp),
  };
  if (options.retryNum !== undefined) {
    headers['x-slack-retry-num'] = String(options.retryNum);
    headers['x-slack-retry-reason'] = 'http_timeout';
  }
  return fx.app.inject({ method: 'POST', url: '/slack/events', headers, payload: body });
}

let triggers = 0;
export function triggerId(): string {
  triggers += 1;
  return `${Date.now()}.${triggers}.trigger`;
}

/** A slash command, form-encoded as Slack sends it. */
export async function slashCommand(
  fx: SlackFixture,
  text: string,
  fields: Record<string, string> = {},
  options: SendOptions = {},
): Promise<LightMyRequestResponse> {
  const form = new URLSearchParams({
    token: 'deprecated-verification-token',
    team_id: TEAM,
    team_domain: 'fake',
    channel_id: CHANNEL,
    channel_name: 'general',
    user_id: USER,
    user_name: 'alice',
    command: '/agent',
    text,
    api_app_id: 'A0AGENTQ',
    is_enterprise_install: 'false',
    response_url: fx.fake.responseUrl('command'),
    trigger_id: triggerId(),
    ...fields,
  });
  return send(fx, form.toString(), 'application/x-www-form-urlencoded', options);
}

/** An Events API callback, JSON as Slack sends it. */
export async function eventCallback(
  fx: SlackFixture,
  event: Record<string, unknown>,
  envelope: { eventId: string; teamId?: string },
  options: SendOptions = {},
): Promise<LightMyRequestResponse> {
  const teamId = envelope.teamId ?? TEAM;
  const body = JSON.stringify({
    token: 'deprecated-verification-token',
    team_id: teamId,
    api_app_id: 'A0AGENTQ',
    event: { event_ts: event.ts, ...event },
    type: 'event_callback',
    event_id: envelope.eventId,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ enterprise_id: null, team_id: teamId, user_id: BOT_USER, is_bot: true, is_enterprise_install: false }],
    is_ext_shared_channel: false,
    event_context: `4-${envelope.eventId}`,
  });
  return send(fx, body, 'application/json', options);
}

/** An `app_mention` event. */
export function mention(text: string, ts: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'app_mention', user: USER, text: `<@${BOT_USER}> ${text}`, ts, channel: CHANNEL, team: TEAM, ...extra };
}

/** A click on a button of a task's status message (`block_actions`, form-encoded `payload`). */
export async function buttonClick(
  fx: SlackFixture,
  actionId: string,
  taskId: string,
  who: { userId: string; message?: { ts: string; thread_ts?: string }; triggerId?: string },
  options: SendOptions = {},
): Promise<LightMyRequestResponse> {
  const message = who.message ?? { ts: '1800000000.000001' };
  const payload = {
    type: 'block_actions',
    user: { id: who.userId, username: who.userId.toLowerCase(), name: who.userId.toLowerCase(), team_id: TEAM },
    api_app_id: 'A0AGENTQ',
    token: 'deprecated-verification-token',
    container: { type: 'message', message_ts: message.ts, channel_id: CHANNEL, is_ephemeral: false, thread_ts: message.thread_ts },
    trigger_id: who.triggerId ?? triggerId(),
    team: { id: TEAM, domain: 'fake' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: CHANNEL, name: 'general' },
    message: { type: 'message', user: BOT_USER, bot_id: 'B0AGENTQ', text: 'status', ts: message.ts, thread_ts: message.thread_ts },
    state: { values: {} },
    response_url: fx.fake.responseUrl(`action-${taskId}`),
    actions: [
      {
        action_id: actionId,
        block_id: 'agentq_actions',
        text: { type: 'plain_text', text: actionId, emoji: true },
        value: taskId,
        type: 'button',
        action_ts: `${Math.floor(Date.now() / 1000)}.000100`,
      },
    ],
  };
  return send(fx, new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), 'application/x-www-form-urlencoded', options);
}

/** The task id an answer names. */
export function taskIdIn(text: string): string {
  const id = /`([0-9a-hjkmnp-tv-z]{26})`/.exec(text)?.[1];
  if (!id) throw new Error(`no task id in ${JSON.stringify(text)}`);
  return id;
}

/** The ephemeral answer of a slash command response. */
export function ackText(res: LightMyRequestResponse): string {
  const body = res.json() as { response_type: string; text: string };
  if (body.response_type !== 'ephemeral') throw new Error(`not ephemeral: ${res.body}`);
  return body.text;
}

/** The records of every task of the fixture, newest first. */
export async function allTasks(fx: IngressFixture): Promise<TaskRecord[]> {
  return fx.store.list({ limit: 100 });
}

/** Ephemeral answers given through `response_url`s. */
export function responses(fake: FakeSlack): { id: string; text: string }[] {
  return fake.calls.filter((c) => c.method === 'response_url').map((c) => ({ id: String(c.args.id), text: String(c.args.text) }));
}
