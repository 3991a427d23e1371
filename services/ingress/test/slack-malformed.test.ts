import { Writable } from 'node:stream';
import { createLogger } from '@agentq/shared';
import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueSnapshot } from './ingress-fixture.js';
import { CHANNEL, TEAM, USER, ackText, allTasks, send, slashCommand, startSlackIngress, triggerId, type SlackFixture } from './slack-fixture.js';

let redis: TestRedis;
let fx: SlackFixture;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  redis = await startTestRedis();
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  fx = await startSlackIngress(redis.url, { logger: createLogger({ service: 'ingress-test', level: 'info', destination }) });
});
afterAll(async () => {
  await fx?.close();
  await redis?.stop();
});

const NOTHING = { jobs: 0, indexed: 0, relay: 0 };
const POLLUTING = ['constructor', '__proto__', 'prototype'];

function event(fields: Record<string, unknown>, eventFields: Record<string, unknown> = {}): string {
  return JSON.stringify({
    token: 'deprecated-verification-token',
    team_id: TEAM,
    api_app_id: 'A0AGENTQ',
    type: 'event_callback',
    event_id: `Ev${Math.random().toString(36).slice(2)}`,
    event: { type: 'app_mention', user: USER, text: '<@U0AGENTQ> demo/hello hi', ts: '1800000000.000100', channel: CHANNEL, team: TEAM, ...eventFields },
    ...fields,
  });
}

function command(fields: Record<string, string>): string {
  return new URLSearchParams({ team_id: TEAM, channel_id: CHANNEL, user_id: USER, command: '/agent', text: 'demo/hello hi', trigger_id: triggerId(), ...fields }).toString();
}

function interaction(fields: Record<string, unknown>): string {
  const payload = {
    type: 'block_actions',
    user: { id: USER, team_id: TEAM },
    team: { id: TEAM },
    enterprise: null,
    channel: { id: CHANNEL },
    trigger_id: triggerId(),
    actions: [{ action_id: 'agentq_cancel', value: '01jabcdefghjkmnpqrstvwxyz0' }],
    ...fields,
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

const JSON_TYPE = 'application/json';
const FORM = 'application/x-www-form-urlencoded';

describe('validly signed Slack requests of the wrong shape', () => {
  const cases: { name: string; body: string; type: string }[] = [
    ...POLLUTING.flatMap((key) => [
      { name: `an event with team_id ${key}`, body: event({ team_id: key }), type: JSON_TYPE },
      { name: `an event with enterprise_id ${key}`, body: event({ enterprise_id: key }), type: JSON_TYPE },
      { name: `an event by user ${key}`, body: event({}, { user: key }), type: JSON_TYPE },
      { name: `an event with an authorization of team ${key}`, body: event({ authorizations: [{ team_id: key, user_id: 'U0AGENTQ' }] }), type: JSON_TYPE },
      { name: `a command with team_id ${key}`, body: command({ team_id: key }), type: FORM },
      { name: `a command by user ${key}`, body: command({ user_id: key }), type: FORM },
      { name: `a command with enterprise_id ${key}`, body: command({ enterprise_id: key }), type: FORM },
      { name: `an interaction of team ${key}`, body: interaction({ team: { id: key } }), type: FORM },
      { name: `an interaction by user ${key}`, body: interaction({ user: { id: key } }), type: FORM },
    ]),
    { name: 'an event without event', body: event({ event: undefined }), type: JSON_TYPE },
    { name: 'an event whose event is a string', body: event({ event: 'app_mention' }), type: JSON_TYPE },
    { name: 'an event whose text is a number', body: event({}, { text: 42 }), type: JSON_TYPE },
    { name: 'an event without event_id', body: event({ event_id: undefined }), type: JSON_TYPE },
    { name: 'a body of an unknown type', body: JSON.stringify({ type: 42, team_id: TEAM }), type: JSON_TYPE },
    { name: 'an empty object', body: '{}', type: JSON_TYPE },
    { name: 'a JSON array', body: '[1,2,3]', type: JSON_TYPE },
    { name: 'a body that is not JSON', body: '{"type":', type: JSON_TYPE },
    { name: 'a command without user_id', body: new URLSearchParams({ team_id: TEAM, channel_id: CHANNEL, command: '/agent', text: 'x', trigger_id: 't' }).toString(), type: FORM },
    { name: 'an interaction whose payload is not JSON', body: new URLSearchParams({ payload: '{nope' }).toString(), type: FORM },
    { name: 'an interaction whose actions are not a list', body: interaction({ actions: { action_id: 'agentq_cancel' } }), type: FORM },
    { name: 'an interaction without user', body: interaction({ user: undefined }), type: FORM },
  ];
  for (const c of cases) {
    it(`acknowledges ${c.name} with 200, logs SLACK_REQUEST_MALFORMED, does nothing`, async () => {
      const before = lines.length;
      const calls = fx.fake.calls.length;
      const res = await send(fx, c.body, c.type);
      expect(res.statusCode).toBe(200);
      expect(res.body).toBe('');
      expect(lines.slice(before).filter((l) => l.code === 'SLACK_REQUEST_MALFORMED')).toHaveLength(1);
      expect(fx.fake.calls.length).toBe(calls);
      expect(await queueSnapshot(fx)).toEqual(NOTHING);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  }

  it('answers a slash command whose prompt holds a control character with a message that says so, and queues nothing', async () => {
    for (const character of ['\u0000', '\u001b', '\u007f', '\u009b']) {
      const res = await slashCommand(fx, `demo/hello fix ${character} it`);
      expect(res.statusCode).toBe(200);
      expect(ackText(res)).toContain('control character');
    }
    expect(await allTasks(fx)).toEqual([]);
    expect(await queueSnapshot(fx)).toEqual(NOTHING);
  });

  it('still takes a well-formed slash command after all of that', async () => {
    const res = await slashCommand(fx, 'demo/hello add a file\twith a tab');
    expect(res.statusCode).toBe(200);
    expect(await allTasks(fx)).toHaveLength(1);
  });
});
