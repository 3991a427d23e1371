import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AgentqError } from '@agentq/shared';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClaimStaleError, RelayError } from '../src/relay-errors.js';
import { DeliveryFailures, STALE_RETRY_MS, type FailureDecision } from '../src/sinks/slack/delivery-failures.js';
import { SlackClients } from '../src/sinks/slack/slack-clients.js';
import { SlackMetrics } from '../src/sinks/slack/slack-metrics.js';
import { WorkspaceToken } from '../src/sinks/slack/workspace-token.js';
import { testLogger } from './support.js';

/** A Slack Web API on 127.0.0.1 that answers each call from a script: an HTTP status, or `ok: false` with an error. */
let server: Server;
let apiUrl = '';
const answers: ({ status: number } | { error: string })[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const answer = answers.shift() ?? { error: 'internal_error' };
      const status = 'status' in answer ? answer.status : 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: false, error: 'error' in answer ? answer.error : 'internal_error' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const logger = testLogger();
const clients = () => new SlackClients({ apiUrl, logger, metrics: new SlackMetrics(new Registry()), rateLimitRetries: 0 });

/** What a real Web API call fails with when Slack answers `answer`. */
async function slackFailure(answer: { status: number } | { error: string }): Promise<unknown> {
  answers.push(answer);
  try {
    await clients().for('xoxb-test').chat.postMessage({ channel: 'C1', text: 'hi' });
  } catch (err) {
    return err;
  }
  throw new Error('the call did not fail');
}

/** A token resolver that hands out the given tokens in turn (then the last one), or throws. */
function resolver(...tokens: (string | Error)[]) {
  let calls = 0;
  const resolve = async () => {
    const next = tokens[Math.min(calls, tokens.length - 1)];
    calls += 1;
    if (next instanceof Error) throw next;
    if (next === undefined) throw new Error('no token scripted');
    return next;
  };
  return { resolve, calls: () => calls };
}

function policy(token: WorkspaceToken): DeliveryFailures {
  // random 0.5: no spread, so the waits are the policy's own numbers
  return new DeliveryFailures({ token, log: logger, retry: { initialMs: 100, maxMs: 1000, jitter: 0.25 }, random: () => 0.5 });
}

const retry = (inMs: number): FailureDecision => ({ kind: 'retry', inMs });
const stopped = (code: string) => expect.objectContaining({ kind: 'stop', code });

describe('Slack delivery failure policy', () => {
  it('retries Slack and network trouble with backoff; a success starts it over', async () => {
    const token = new WorkspaceToken(resolver('xoxb-a').resolve, { teamId: 'T1' });
    const failures = policy(token);
    const unavailable = await slackFailure({ status: 503 });
    const decisions = [];
    for (let i = 0; i < 6; i++) decisions.push(await failures.decide(unavailable));
    expect(decisions).toEqual([retry(100), retry(200), retry(400), retry(800), retry(1000), retry(1000)]);
    failures.succeeded();
    expect(await failures.decide(new Error('ECONNRESET'))).toEqual(retry(100));
    // an unknown platform error is retried too
    expect(await failures.decide(await slackFailure({ error: 'fatal_error' }))).toEqual(retry(200));
  });

  it('waits for a stale claim without counting it as a failure', async () => {
    const failures = policy(new WorkspaceToken(resolver('xoxb-a').resolve, { teamId: 'T1' }));
    expect(await failures.decide(new ClaimStaleError('task-1'))).toEqual(retry(STALE_RETRY_MS));
    expect(await failures.decide(new ClaimStaleError('task-1'))).toEqual(retry(STALE_RETRY_MS));
    expect(await failures.decide(new Error('down'))).toEqual(retry(100));
  });

  it('stops for good when the workspace has no token, but retries a resolver that failed otherwise', async () => {
    const missing = new WorkspaceToken(resolver(new AgentqError('SLACK_NOT_INSTALLED', 'agentq is not installed', { status: 404 })).resolve, { teamId: 'T1' });
    const err = await missing.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RelayError);
    expect(await policy(missing).decide(err)).toEqual(stopped('RELAY_SLACK_NO_TOKEN'));

    const flaky = new WorkspaceToken(resolver(new Error('redis down'), 'xoxb-a').resolve, { teamId: 'T1' });
    const outage = await flaky.get().catch((e: unknown) => e);
    expect(await policy(flaky).decide(outage)).toEqual(retry(100));
    expect(await flaky.get()).toBe('xoxb-a');
  });

  it('reads the token again once when Slack refuses it: a new token is tried at once, the same one stops', async () => {
    const invalidAuth = await slackFailure({ error: 'invalid_auth' });
    const reinstalled = resolver('xoxb-old', 'xoxb-new');
    const token = new WorkspaceToken(reinstalled.resolve, { teamId: 'T1' });
    expect(await token.get()).toBe('xoxb-old');
    const failures = policy(token);
    expect(await failures.decide(invalidAuth)).toEqual(retry(0));
    expect(await token.get()).toBe('xoxb-new');
    // refused again: only one new reading per task
    expect(await failures.decide(invalidAuth)).toEqual(stopped('RELAY_SLACK_AUTH_FAILED'));
    expect(reinstalled.calls()).toBe(2);

    const same = new WorkspaceToken(resolver('xoxb-old').resolve, { teamId: 'T1' });
    await same.get();
    expect(await policy(same).decide(invalidAuth)).toEqual(stopped('RELAY_SLACK_AUTH_FAILED'));
  });

  it('stops for good when the channel cannot be posted to', async () => {
    const failures = policy(new WorkspaceToken(resolver('xoxb-a').resolve, { teamId: 'T1' }));
    for (const error of ['channel_not_found', 'not_in_channel', 'is_archived']) {
      expect(await failures.decide(await slackFailure({ error }))).toEqual(stopped('RELAY_SLACK_CHANNEL_UNAVAILABLE'));
    }
  });
});
