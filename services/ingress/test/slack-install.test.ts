import { createLogger, createRedactor, createSlackTokenResolver } from '@agentq/shared';
import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BOT_TOKEN, SIGNING_SECRET, ackText, eventCallback, mention, slashCommand, startSlackIngress, taskIdIn, type SlackFixture } from './slack-fixture.js';

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

const CLIENT_SECRET = 'client-secret-for-tests-0123';
const STATE_SECRET = 'state-secret-for-tests-0123456';
const INSTALLED_TOKEN = 'xoxb-1111-installed-bot-token';
const OTHER_TEAM = 'T0OTHER';
const OAUTH_ENV = { SLACK_CLIENT_ID: '1234.5678', SLACK_CLIENT_SECRET: CLIENT_SECRET, SLACK_STATE_SECRET: STATE_SECRET };

/** Every key and value under the fixture's prefix, as one string. */
async function redisDump(): Promise<string> {
  const out: string[] = [];
  for (const key of await fx.redis.keys(`${fx.keys.prefix}:*`)) {
    const type = await fx.redis.type(key);
    if (type === 'string') out.push(key, (await fx.redis.get(key)) ?? '');
    else if (type === 'hash') out.push(key, JSON.stringify(await fx.redis.hgetall(key)));
    else if (type === 'stream') out.push(key, JSON.stringify(await fx.redis.xrange(key, '-', '+')));
    else out.push(key, type);
  }
  return out.join('\n');
}

async function install(): Promise<void> {
  const start = await fx.app.inject({ method: 'GET', url: '/slack/install' });
  expect(start.statusCode).toBe(302);
  const location = new URL(String(start.headers.location));
  expect(`${location.origin}${location.pathname}`).toBe('https://slack.com/oauth/v2/authorize');
  expect(location.searchParams.get('client_id')).toBe('1234.5678');
  expect(location.searchParams.get('scope')?.split(',')).toEqual(expect.arrayContaining(['commands', 'app_mentions:read', 'chat:write']));
  expect(location.searchParams.get('redirect_uri')).toBe('http://agentq.test/slack/oauth_redirect');
  const state = location.searchParams.get('state');
  expect(state).toBeTruthy();
  const cookie = String(start.headers['set-cookie']).split(';')[0] ?? '';
  expect(cookie).toContain(String(state));

  const done = await fx.app.inject({
    method: 'GET',
    url: `/slack/oauth_redirect?code=code-123&state=${encodeURIComponent(String(state))}`,
    headers: { cookie },
  });
  expect(done.statusCode).toBe(200);
  expect(done.body).toContain('agentq is installed');
  expect(done.body).not.toContain(INSTALLED_TOKEN);
  const exchange = fx.fake.succeeded('oauth.v2.access');
  expect(exchange).toHaveLength(1);
  expect(exchange[0]?.args).toMatchObject({ code: 'code-123', client_id: '1234.5678' });
}

describe('the install flow (several workspaces)', () => {
  it('stores the installation encrypted, serves that workspace, and hands its token to the resolver', async () => {
    fx = await startSlackIngress(redis.url, {
      noBotToken: true,
      env: OAUTH_ENV,
      fake: { installation: { accessToken: INSTALLED_TOKEN, teamId: OTHER_TEAM, teamName: 'Other' } },
    });
    const before = await slashCommand(fx, 'demo/hello add a CONTRIBUTING.md', { team_id: OTHER_TEAM });
    expect(ackText(before)).toMatch(/not installed in this workspace.*http:\/\/agentq\.test\/slack\/install/);

    await install();
    const stored = await fx.redis.hgetall(fx.keys.slackInstallations);
    expect(Object.keys(stored)).toEqual([`team:${OTHER_TEAM}`]);
    const dump = await redisDump();
    expect(dump).not.toContain(INSTALLED_TOKEN);
    expect(dump).not.toContain(Buffer.from(INSTALLED_TOKEN).toString('base64').slice(0, 20));

    const resolve = createSlackTokenResolver({ config: fx.config, redis: fx.redis, keys: fx.keys });
    expect(await resolve({ teamId: OTHER_TEAM })).toBe(INSTALLED_TOKEN);
    await expect(resolve({ teamId: 'T0NOWHERE' })).rejects.toMatchObject({ code: 'SLACK_NOT_INSTALLED' });

    const res = await slashCommand(fx, 'demo/hello add a CONTRIBUTING.md', { team_id: OTHER_TEAM });
    const id = taskIdIn(ackText(res));
    expect((await fx.store.require(id)).slack).toMatchObject({ teamId: OTHER_TEAM });
    const elsewhere = await slashCommand(fx, 'demo/hello add a CONTRIBUTING.md', { team_id: 'T0NOWHERE' });
    expect(ackText(elsewhere)).toMatch(/not installed in this workspace/);

    // a store read with another client secret cannot decrypt it
    const wrongKey = createSlackTokenResolver({
      config: { ...fx.config, slack: { ...(fx.config.slack as NonNullable<typeof fx.config.slack>), oauth: { ...OAUTH_ENV, clientId: 'x', clientSecret: 'another-client-secret', stateSecret: STATE_SECRET } } },
      redis: fx.redis,
      keys: fx.keys,
    });
    await expect(wrongKey({ teamId: OTHER_TEAM })).rejects.toMatchObject({ code: 'SLACK_INSTALLATION_UNREADABLE' });
  });

  it('refuses a callback whose state is not from this browser', async () => {
    fx = await startSlackIngress(redis.url, { noBotToken: true, env: OAUTH_ENV });
    const start = await fx.app.inject({ method: 'GET', url: '/slack/install' });
    const state = new URL(String(start.headers.location)).searchParams.get('state') ?? '';
    const res = await fx.app.inject({ method: 'GET', url: `/slack/oauth_redirect?code=c&state=${encodeURIComponent(state)}` });
    expect(res.statusCode).toBe(400);
    expect(fx.fake.calls.filter((c) => c.method === 'oauth.v2.access')).toEqual([]);
    expect(await fx.redis.exists(fx.keys.slackInstallations)).toBe(0);
  });

  it('serves the bot token workspace alongside installed ones', async () => {
    fx = await startSlackIngress(redis.url, { env: OAUTH_ENV });
    const res = await slashCommand(fx, 'demo/hello add a CONTRIBUTING.md');
    expect(taskIdIn(ackText(res))).toBeTruthy();
    const resolve = createSlackTokenResolver({ config: fx.config, redis: fx.redis, keys: fx.keys });
    expect(await resolve({ teamId: 'T0FAKE' })).toBe('xoxb-0000-test-bot-token');
  });
});

describe('secrets', () => {
  it('stay out of the logs, installed bot tokens included', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      service: 'ingress',
      level: 'trace',
      destination: { write: (line: string) => void lines.push(line) },
      redact: createRedactor([SIGNING_SECRET, BOT_TOKEN, CLIENT_SECRET, STATE_SECRET]),
    });
    fx = await startSlackIngress(redis.url, {
      env: OAUTH_ENV,
      logger,
      fake: { installation: { accessToken: INSTALLED_TOKEN, teamId: OTHER_TEAM } },
    });
    await install();
    taskIdIn(ackText(await slashCommand(fx, 'demo/hello one', { team_id: OTHER_TEAM })));
    taskIdIn(ackText(await slashCommand(fx, 'demo/hello two')));
    await eventCallback(fx, mention('no repository here', '1800002000.000100'), { eventId: 'Ev0LOG', teamId: OTHER_TEAM });
    await slashCommand(fx, 'demo/hello three', {}, { secret: 'wrong-secret-123' });
    const log = lines.join('');
    expect(log).toContain('slack app installed');
    expect(log).toContain('task accepted from slack');
    expect(log).toContain('slack request refused: bad signature');
    for (const secret of [INSTALLED_TOKEN, BOT_TOKEN, SIGNING_SECRET, CLIENT_SECRET, STATE_SECRET]) expect(log).not.toContain(secret);
  });
});
