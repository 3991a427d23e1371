import { createHmac } from 'node:crypto';
import { newTaskId, signatureHeader } from '@agentq/shared';
import { slackSignatureHeaders, startTestRedis, type TestRedis } from '@agentq/shared/testing';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEBHOOK_SECRET, startGitHubIngress, type GitHubFixture } from './github-fixture.js';
import { ADMIN_TOKEN, queueSnapshot, type IngressFixture } from './ingress-fixture.js';
import { SIGNING_SECRET, startSlackIngress, type SlackFixture } from './slack-fixture.js';

/**
 * Every public endpoint of the ingress, fed a few thousand malformed requests made by a seeded
 * generator (`AGENTQ_FUZZ_SEED` replays a run): no answer may be a 5xx, every request must be
 * answered within `ANSWER_MS`, and nothing may be queued.
 */

const SEED = Number(process.env.AGENTQ_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const REQUESTS_PER_KIND = Number(process.env.AGENTQ_FUZZ_REQUESTS ?? 250);
const ANSWER_MS = 10_000;
const WEBHOOK_SIGNING = 'whsec_fuzz_0123456789abcdef0123456789ab';

/** mulberry32: small, seeded, good enough to pick shapes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(readonly next: () => number) {}
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }

  static readonly KEYS = [
    '__proto__', 'constructor', 'prototype', 'repo', 'prompt', 'baseRef', 'harness', 'model', 'limits', 'callbackUrl', 'metadata', 'priority',
    'type', 'team_id', 'enterprise_id', 'user', 'user_id', 'event', 'event_id', 'command', 'text', 'payload', 'actions', 'team', 'channel',
    'action', 'repository', 'issue', 'comment', 'sender', 'label', 'pull_request', 'body', 'number', 'id', 'login', 'full_name', 'challenge',
    'token', 'trigger_id', 'authorizations', 'source', 'name', 'maxTurns', 'timeoutSec', 'maxCostUsd', '', 'ä', '\u0000',
  ] as const;

  string(): string {
    return this.pick([
      () => '',
      () => 'constructor',
      () => '__proto__',
      () => 'x'.repeat(this.int(5000)),
      () => 'nobody/nothing',
      () => 'owner/../../etc',
      () => '\u0000\u0001\u001b[2J\u007f\u0085',
      () => '\ud800',
      () => '/agent do \u0000 something',
      () => 'https://hooks.example.com:6379/x',
      () => 'http://169.254.169.254/latest',
      () => 'url_verification',
      () => 'event_callback',
      () => 'block_actions',
      () => '😀'.repeat(this.int(50)),
      () => String(this.next()),
    ])();
  }

  scalar(): unknown {
    return this.pick([
      () => this.string(),
      () => this.int(1000),
      () => -1,
      () => 1e308,
      () => -0,
      () => 2 ** 64,
      () => Number.MAX_SAFE_INTEGER + 2,
      () => 0.1,
      () => true,
      () => false,
      () => null,
    ])();
  }

  value(depth = 0): unknown {
    if (depth > 4 || this.chance(0.45)) return this.scalar();
    if (this.chance(0.3)) return Array.from({ length: this.int(5) }, () => this.value(depth + 1));
    return this.object(depth + 1);
  }

  object(depth = 0): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (let i = this.int(7); i > 0; i--) Object.defineProperty(out, this.pick(Gen.KEYS), { value: this.value(depth), enumerable: true, configurable: true, writable: true });
    return out;
  }

  /** A body as text: JSON of random shape, deep nesting, a huge number, broken JSON, a form. */
  bodyText(): string {
    return this.pick([
      () => JSON.stringify(this.value()),
      () => JSON.stringify(this.object()),
      () => `${'['.repeat(2000 + this.int(3000))}${']'.repeat(2000 + this.int(3000))}`,
      () => `${'{"a":'.repeat(1000)}1${'}'.repeat(1000)}`,
      () => `{"n": 1${'0'.repeat(400)}}`,
      () => '{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}',
      () => JSON.stringify(this.object()).slice(0, this.int(40)),
      () => new URLSearchParams({ payload: JSON.stringify(this.object()), command: '/agent', team_id: 'constructor' }).toString(),
      () => new URLSearchParams({ command: String(this.scalar()), text: this.string(), team_id: this.pick(['__proto__', 'T0FAKE', '']) }).toString(),
      () => '',
    ])();
  }

  body(): string | Buffer {
    const text = this.bodyText();
    // invalid UTF-8 now and then
    return this.chance(0.1) ? Buffer.concat([Buffer.from(text), Buffer.from([0xff, 0xfe, 0xc3, 0x28])]) : text;
  }

  contentType(): string | undefined {
    return this.pick([
      'application/json',
      'application/json; charset=utf-8',
      'application/x-www-form-urlencoded',
      'text/plain',
      'multipart/form-data; boundary=x',
      'application/json; charset=latin1',
      'application/octet-stream',
      '',
      undefined,
    ]);
  }
}

/** Percent-encodes, lone surrogates as bytes that are not UTF-8 (a malformed path is part of the fuzz). */
function enc(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return '%ED%A0%80';
  }
}

/** A header value a client can send: HTTP carries no control characters or non-Latin-1 text in headers. */
function hv(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}

function sign(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

let redis: TestRedis;
let slack: SlackFixture;
let github: GitHubFixture;

beforeAll(async () => {
  redis = await startTestRedis();
  slack = await startSlackIngress(redis.url, { env: { AGENTQ_WEBHOOK_SECRETS: WEBHOOK_SIGNING, AGENTQ_CALLBACK_SECRET: 'c'.repeat(32), AGENTQ_CALLBACK_HOSTS: 'hooks.example.com' } });
  github = await startGitHubIngress(redis.url);
});
afterAll(async () => {
  await slack?.close();
  await github?.close();
  await redis?.stop();
});

type Kind = (g: Gen) => { fx: 'slack' | 'github'; request: InjectOptions };

function withType(headers: Record<string, string>, type: string | undefined): Record<string, string> {
  return type === undefined ? headers : { ...headers, 'content-type': type };
}

const KINDS: Record<string, Kind> = {
  'POST /v1/tasks with a token': (g) => ({
    fx: 'slack',
    request: { method: 'POST', url: '/v1/tasks', headers: withType({ authorization: `Bearer ${ADMIN_TOKEN}`, ...(g.chance(0.2) ? { 'idempotency-key': hv(g.string().slice(0, 300)) } : {}) }, g.contentType()), payload: g.body() },
  }),
  'POST /v1/tasks signed (X-Agentq-Signature)': (g) => {
    const body = g.bodyText();
    const t = g.pick([Math.floor(Date.now() / 1000), 0, 1e12, -5]);
    const signature = g.pick([signatureHeader(WEBHOOK_SIGNING, t, body), 't=1,v1=00', hv(g.string()), `t=${t},v1=${'f'.repeat(64)}`]);
    return { fx: 'slack', request: { method: 'POST', url: '/v1/tasks', headers: withType({ 'x-agentq-signature': signature }, g.contentType()), payload: body } };
  },
  'POST /v1/tasks without auth': (g) => ({ fx: 'slack', request: { method: 'POST', url: '/v1/tasks', headers: withType({ authorization: g.pick(['', 'Bearer', 'Basic x', `Bearer ${hv(g.string())}`]) }, g.contentType()), payload: g.body() } }),
  'POST /v1/tasks/:id/cancel': (g) => ({
    fx: 'slack',
    request: { method: 'POST', url: `/v1/tasks/${g.pick([newTaskId(), enc(g.string().slice(0, 100)), '..%2f..'])}/cancel`, headers: withType({ authorization: `Bearer ${ADMIN_TOKEN}` }, g.contentType()), payload: g.body() },
  }),
  'GET /v1/tasks, /v1/tasks/:id, /v1/tasks/:id/events, /v1/repos': (g) => ({
    fx: 'slack',
    request: {
      method: 'GET',
      url: g.pick([
        `/v1/tasks?state=${enc(g.string().slice(0, 50))}&limit=${enc(String(g.scalar()))}&repo=${enc(g.string().slice(0, 50))}`,
        `/v1/tasks/${g.pick([newTaskId(), enc(g.string().slice(0, 100))])}`,
        `/v1/tasks/${g.pick([newTaskId(), 'constructor'])}/events?format=${g.pick(['jsonl', 'sse', '', '__proto__'])}`,
        `/v1/tasks?limit=1e308&state[]=x&__proto__[polluted]=1`,
        '/v1/repos',
      ]),
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'last-event-id': hv(String(g.scalar())) },
    },
  }),
  'POST /v1/repos': (g) => ({ fx: 'slack', request: { method: 'POST', url: '/v1/repos', headers: withType({ authorization: `Bearer ${ADMIN_TOKEN}` }, g.contentType()), payload: g.body() } }),
  'the viewer': (g) => ({
    fx: 'slack',
    request: { method: 'GET', url: `/tasks/${g.pick([newTaskId(), enc(g.string().slice(0, 80)), 'constructor'])}?key=${enc(g.string().slice(0, 100))}` },
  }),
  'ops endpoints': (g) => ({ fx: 'slack', request: { method: g.pick(['GET', 'POST', 'HEAD'] as const), url: g.pick(['/healthz', '/readyz', '/metrics', '/healthz?x=__proto__', '/nowhere']) } }),
  'POST /slack/events unsigned or badly signed': (g) => {
    const body = g.body();
    const headers = g.chance(0.5) ? slackSignatureHeaders('not-the-secret', String(body)) : { 'x-slack-signature': hv(g.string()), 'x-slack-request-timestamp': hv(String(g.scalar())) };
    return { fx: 'slack', request: { method: 'POST', url: '/slack/events', headers: withType(headers, g.contentType()), payload: body } };
  },
  'POST /slack/events validly signed': (g) => {
    const body = g.bodyText();
    return { fx: 'slack', request: { method: 'POST', url: '/slack/events', headers: withType(slackSignatureHeaders(SIGNING_SECRET, body), g.contentType()), payload: body } };
  },
  'GET /slack/install and /slack/oauth_redirect': (g) => ({ fx: 'slack', request: { method: 'GET', url: g.pick(['/slack/install', `/slack/oauth_redirect?code=${enc(g.string().slice(0, 50))}&state=x`]) } }),
  'POST /github/webhooks badly signed': (g) => {
    const body = g.body();
    return {
      fx: 'github',
      request: { method: 'POST', url: '/github/webhooks', headers: withType({ 'x-hub-signature-256': g.pick([sign('wrong', body), hv(g.string()), '']), 'x-github-event': 'issue_comment', 'x-github-delivery': hv(g.string().slice(0, 100)) }, g.contentType()), payload: body },
    };
  },
  'POST /github/webhooks validly signed': (g) => {
    const event = g.pick(['issue_comment', 'issues', 'pull_request_review_comment', 'ping', 'push', '__proto__', '']);
    const payload = g.object();
    if (g.chance(0.8)) payload.action = g.pick(['created', 'labeled', 'edited', 7]);
    const body = g.chance(0.9) ? JSON.stringify(payload) : g.bodyText();
    const headers: Record<string, string> = { 'x-hub-signature-256': sign(WEBHOOK_SECRET, body), 'x-github-event': event, 'x-github-delivery': g.pick([newTaskId(), '', 'x'.repeat(300)]) };
    return { fx: 'github', request: { method: 'POST', url: '/github/webhooks', headers: withType(headers, g.pick(['application/json', 'application/x-www-form-urlencoded', undefined])), payload: body } };
  },
};

async function answered(fx: IngressFixture, request: InjectOptions): Promise<LightMyRequestResponse | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ANSWER_MS);
  });
  try {
    return await Promise.race([fx.app.inject(request), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('fuzzing every public endpoint', () => {
  it(`answers malformed requests with no 5xx and no hang, and queues nothing (seed ${SEED}; AGENTQ_FUZZ_SEED=${SEED} replays it)`, { timeout: 120_000 }, async () => {
    console.log(`ingress fuzz seed ${SEED}`);
    const g = new Gen(prng(SEED));
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let sent = 0;
    for (const [name, kind] of Object.entries(KINDS)) {
      for (let i = 0; i < REQUESTS_PER_KIND; i++) {
        const { fx, request } = kind(g);
        const res = await answered(fx === 'slack' ? slack : github, request);
        sent += 1;
        const what = `${name} #${i} ${request.method} ${String(request.url).slice(0, 80)}`;
        if (res === 'timeout') failures.push(`${what}: no answer in ${ANSWER_MS} ms`);
        else {
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
          if (res.statusCode >= 500) failures.push(`${what}: ${res.statusCode} ${res.body.slice(0, 200)}`);
        }
      }
    }
    expect(failures.slice(0, 20), `seed ${SEED}`).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(Object.keys(KINDS).length * REQUESTS_PER_KIND);
    // the answers were of many kinds, not one refusal for everything
    expect([...statuses.keys()].filter((s) => s >= 400).length).toBeGreaterThan(4);
    expect(statuses.get(200)).toBeGreaterThan(0);
    for (const fx of [slack, github]) {
      expect(await queueSnapshot(fx)).toEqual({ jobs: 0, indexed: 0, relay: 0 });
      expect(await fx.store.list({ limit: 10 })).toEqual([]);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(slack.fake.calls.filter((c) => c.method !== 'auth.test')).toEqual([]);
    expect(github.fake.comments).toEqual([]);
  });
});
