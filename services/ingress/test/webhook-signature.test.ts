import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { promisify } from 'node:util';
import { ConfigError, configSecrets, createLogger, isAgentqError, loadConfig } from '@agentq/shared';
import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SIGNATURE_WINDOW_SEC, WebhookSignatureAuth, parseSignatureHeader, signatureHeader } from '../src/auth/webhook-signature.js';
import { ALPHA_TOKEN, auth, queueSnapshot, startIngress, taskBody, type IngressFixture } from './ingress-fixture.js';

const run = promisify(execFile);

const ALPHA_SECRET = 'whsec_alpha_0123456789abcdef0123456789';
const DEFAULT_SECRET = 'whsec_default_0123456789abcdef01234567';
const UNKNOWN_SECRET = 'whsec_unknown_0123456789abcdef01234567';

let redis: TestRedis;
let fx: IngressFixture;
let lines: string[];

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis.stop();
});
beforeEach(async () => {
  lines = [];
  // no redactor: whatever the ingress writes reaches these lines unchanged
  const logger = createLogger({ service: 'ingress', level: 'trace', destination: { write: (line: string) => void lines.push(line) } });
  fx = await startIngress(redis.url, { env: { AGENTQ_WEBHOOK_SECRETS: `${ALPHA_SECRET}:alpha,${DEFAULT_SECRET}` }, logger });
});
afterEach(async () => {
  await fx.close();
});

const nowSec = () => Math.floor(Date.now() / 1000);

/** HMAC-SHA256 of `<t>.<body>` over the body's UTF-8 bytes, computed independently of the code under test. */
function sign(secret: string, t: number | string, body: string): string {
  const bytes = Buffer.concat([Buffer.from(`${t}.`), Buffer.from(body, 'utf8')]);
  return `t=${t},v1=${createHmac('sha256', secret).update(bytes).digest('hex')}`;
}

interface Delivery {
  body?: string;
  secret?: string;
  t?: number;
  signature?: string;
  headers?: Record<string, string>;
  url?: string;
}

/** A signed POST; `signature` replaces the computed header, `body` is sent as these exact bytes. */
async function deliver(options: Delivery = {}) {
  const body = options.body ?? JSON.stringify(taskBody());
  const signature = options.signature ?? sign(options.secret ?? ALPHA_SECRET, options.t ?? nowSec(), body);
  return fx.app.inject({
    method: 'POST',
    url: options.url ?? '/v1/tasks',
    headers: { 'content-type': 'application/json', 'x-agentq-signature': signature, ...options.headers },
    payload: body,
  });
}

async function nothingWritten(): Promise<void> {
  expect(await queueSnapshot(fx)).toEqual({ jobs: 0, indexed: 0, relay: 0 });
  expect(await fx.store.list({ limit: 10 })).toEqual([]);
}

describe('signed POST /v1/tasks', () => {
  it('accepts a valid signature and records the task for the secret’s team', async () => {
    const res = await deliver();
    expect(res.statusCode).toBe(202);
    const { id } = res.json();
    expect(res.json()).toMatchObject({ id: expect.stringMatching(/^[0-9a-z]{26}$/), state: 'queued' });
    expect(await fx.store.require(id)).toMatchObject({ team: 'alpha', source: 'api', repo: 'demo/hello', state: 'queued' });
    expect((await fx.queue.getJob(id))?.data).toEqual({ taskId: id });
    expect(await queueSnapshot(fx)).toEqual({ jobs: 1, indexed: 1, relay: 1 });
    // an alpha principal: the alpha token sees it
    expect((await fx.app.inject({ method: 'GET', url: `/v1/tasks/${id}`, headers: auth(ALPHA_TOKEN) })).statusCode).toBe(200);
  });

  it('maps a secret without a team to the default team', async () => {
    const res = await deliver({ secret: DEFAULT_SECRET });
    expect(res.statusCode).toBe(202);
    expect((await fx.store.require(res.json().id)).team).toBe('default');
  });

  it('verifies the bytes as sent: pretty-printed JSON with keys in any order and non-ASCII text', async () => {
    const body = '{\n  "prompt": "add a CONTRIBUTING.md — für alle 😀",\n  "repo": "demo/hello"\n}\n';
    const res = await deliver({ body });
    expect(res.statusCode).toBe(202);
    expect((await fx.store.require(res.json().id)).prompt).toBe('add a CONTRIBUTING.md — für alle 😀');
  });

  it('accepts a timestamp inside the window, either way', async () => {
    expect((await deliver({ t: nowSec() - (SIGNATURE_WINDOW_SEC - 10) })).statusCode).toBe(202);
    expect((await deliver({ t: nowSec() + (SIGNATURE_WINDOW_SEC - 10), body: JSON.stringify(taskBody({ prompt: 'two' })) })).statusCode).toBe(202);
    expect(await queueSnapshot(fx)).toEqual({ jobs: 2, indexed: 2, relay: 2 });
  });

  it('returns the original task for a replayed delivery, with one job', async () => {
    const body = JSON.stringify(taskBody());
    const signature = sign(ALPHA_SECRET, nowSec(), body);
    const first = await deliver({ body, signature });
    expect(first.statusCode).toBe(202);
    const replay = await deliver({ body, signature });
    expect(replay.statusCode).toBe(200);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json()).toEqual(first.json());
    expect(await queueSnapshot(fx)).toEqual({ jobs: 1, indexed: 1, relay: 1 });
  });

  it('uses an Idempotency-Key when one is sent, so a re-signed retry finds the first task', async () => {
    const body = JSON.stringify(taskBody());
    const headers = { 'idempotency-key': 'order-7' };
    const first = await deliver({ body, t: nowSec() - 5, headers });
    const retry = await deliver({ body, t: nowSec(), headers });
    expect(first.statusCode).toBe(202);
    expect(retry.statusCode).toBe(200);
    expect(retry.json().id).toBe(first.json().id);
    expect(await queueSnapshot(fx)).toEqual({ jobs: 1, indexed: 1, relay: 1 });
  });

  it('refuses a captured request sent again with another (or a new) Idempotency-Key: one task only', async () => {
    const body = JSON.stringify(taskBody());
    const signature = sign(ALPHA_SECRET, nowSec(), body);
    const first = await deliver({ body, signature, headers: { 'idempotency-key': 'order-8' } });
    expect(first.statusCode).toBe(202);
    for (const headers of [{ 'idempotency-key': 'order-9' }, {}] as Record<string, string>[]) {
      const replay = await deliver({ body, signature, headers });
      expect(replay.statusCode).toBe(409);
      expect(replay.json()).toMatchObject({ error: { code: 'INGRESS_SIGNATURE_REPLAYED' } });
    }
    const unkeyed = sign(ALPHA_SECRET, nowSec() - 1, body);
    expect((await deliver({ body, signature: unkeyed })).statusCode).toBe(202);
    const keyedLater = await deliver({ body, signature: unkeyed, headers: { 'idempotency-key': 'order-10' } });
    expect(keyedLater.statusCode).toBe(409);
    // the same request with its own key still finds its task
    const again = await deliver({ body, signature, headers: { 'idempotency-key': 'order-8' } });
    expect(again.statusCode).toBe(200);
    expect(again.json().id).toBe(first.json().id);
    expect(await queueSnapshot(fx)).toEqual({ jobs: 2, indexed: 2, relay: 2 });
  });

  it('keeps bearer tokens working alongside signatures', async () => {
    const res = await fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(ALPHA_TOKEN), payload: taskBody() });
    expect(res.statusCode).toBe(202);
    expect((await fx.store.require(res.json().id)).team).toBe('alpha');
  });
});

describe('refused signed requests change nothing', () => {
  const later = () => JSON.stringify(taskBody({ prompt: 'something else' }));
  const cases: { name: string; status: number; code: string; send: () => ReturnType<typeof deliver> }[] = [
    { name: 'a tampered body', status: 401, code: 'INGRESS_BAD_SIGNATURE', send: () => deliver({ signature: sign(ALPHA_SECRET, nowSec(), later()) }) },
    { name: 'an unknown secret', status: 401, code: 'INGRESS_BAD_SIGNATURE', send: () => deliver({ secret: UNKNOWN_SECRET }) },
    {
      name: 'a signature over another timestamp',
      status: 401,
      code: 'INGRESS_BAD_SIGNATURE',
      send: () => {
        const body = JSON.stringify(taskBody());
        const t = nowSec();
        const v1 = sign(ALPHA_SECRET, t - 1, body).split('v1=')[1] ?? '';
        return deliver({ body, signature: `t=${t},v1=${v1}` });
      },
    },
    { name: 'a stale timestamp', status: 401, code: 'INGRESS_STALE_SIGNATURE', send: () => deliver({ t: nowSec() - SIGNATURE_WINDOW_SEC - 10 }) },
    { name: 'a future timestamp', status: 401, code: 'INGRESS_STALE_SIGNATURE', send: () => deliver({ t: nowSec() + SIGNATURE_WINDOW_SEC + 10 }) },
    { name: 'a stale timestamp with a wrong secret', status: 401, code: 'INGRESS_BAD_SIGNATURE', send: () => deliver({ secret: UNKNOWN_SECRET, t: nowSec() - 3600 }) },
    { name: 'a bad signature on an invalid body', status: 401, code: 'INGRESS_BAD_SIGNATURE', send: () => deliver({ body: '{"repo":"demo/hello"}', secret: UNKNOWN_SECRET }) },
    { name: 'a bad signature on malformed JSON', status: 401, code: 'INGRESS_BAD_SIGNATURE', send: () => deliver({ body: '{"repo": ', secret: UNKNOWN_SECRET }) },
    { name: 'a valid signature on malformed JSON', status: 400, code: 'INGRESS_MALFORMED_JSON', send: () => deliver({ body: '{"repo": ' }) },
    { name: 'a valid signature on an invalid body', status: 400, code: 'INGRESS_INVALID_REQUEST', send: () => deliver({ body: '{"repo":"demo/hello"}' }) },
    {
      name: 'an oversized body, whatever its signature',
      status: 413,
      code: 'INGRESS_BODY_TOO_LARGE',
      send: () => deliver({ body: JSON.stringify(taskBody({ metadata: { pad: 'x'.repeat(5000) } })), secret: UNKNOWN_SECRET }),
    },
    {
      name: 'a bearer token and a signature',
      status: 400,
      code: 'INGRESS_AMBIGUOUS_AUTH',
      send: () => deliver({ headers: auth(ALPHA_TOKEN) }),
    },
  ];
  const malformed = [
    'garbage',
    '',
    't=1700000000',
    `v1=${'a'.repeat(64)}`,
    `v1=${'a'.repeat(64)},t=1700000000`,
    `t=1700000000,v1=${'A'.repeat(64)}`,
    `t=1700000000,v1=${'a'.repeat(63)}`,
    `t=-1700000000,v1=${'a'.repeat(64)}`,
    `t=1.5,v1=${'a'.repeat(64)}`,
    `t=1700000000, v1=${'a'.repeat(64)}`,
    `t=1700000000,v1=${'a'.repeat(64)},v0=${'b'.repeat(64)}`,
    `sha256=${'a'.repeat(64)}`,
  ];
  for (const signature of malformed) {
    cases.push({ name: `the malformed header ${JSON.stringify(signature)}`, status: 401, code: 'INGRESS_UNAUTHORIZED', send: () => deliver({ signature }) });
  }

  for (const c of cases) {
    it(`${c.name} → ${c.status} ${c.code}`, async () => {
      const res = await c.send();
      expect(res.statusCode).toBe(c.status);
      const body = res.json() as { error: { code: string; message: string } };
      expect(body.error.code).toBe(c.code);
      expect(body.error.message.length).toBeGreaterThan(0);
      for (const secret of [ALPHA_SECRET, DEFAULT_SECRET, UNKNOWN_SECRET]) expect(res.body).not.toContain(secret);
      if (c.status === 401) expect(res.headers['www-authenticate']).toBeDefined();
      await nothingWritten();
    });
  }

  it('refuses every signature when no secrets are configured', async () => {
    const bare = await startIngress(redis.url);
    try {
      const body = JSON.stringify(taskBody());
      const res = await bare.app.inject({
        method: 'POST',
        url: '/v1/tasks',
        headers: { 'content-type': 'application/json', 'x-agentq-signature': sign(ALPHA_SECRET, nowSec(), body) },
        payload: body,
      });
      expect(res.statusCode).toBe(401);
      expect(res.json().error.code).toBe('INGRESS_BAD_SIGNATURE');
      expect(await queueSnapshot(bare)).toEqual({ jobs: 0, indexed: 0, relay: 0 });
    } finally {
      await bare.close();
    }
  });

  it('keeps GET routes to bearer tokens: a signature there is no credential', async () => {
    const { id } = (await deliver()).json();
    const signature = sign(ALPHA_SECRET, nowSec(), '');
    const one = await fx.app.inject({ method: 'GET', url: `/v1/tasks/${id}`, headers: { 'x-agentq-signature': signature } });
    expect(one.statusCode).toBe(401);
    expect(one.json().error.code).toBe('INGRESS_UNAUTHORIZED');
    const list = await fx.app.inject({ method: 'GET', url: '/v1/tasks', headers: { 'x-agentq-signature': signature } });
    expect(list.statusCode).toBe(401);
    // a bearer token with a stray signature header still works there
    const both = await fx.app.inject({ method: 'GET', url: `/v1/tasks/${id}`, headers: { ...auth(ALPHA_TOKEN), 'x-agentq-signature': signature } });
    expect(both.statusCode).toBe(200);
  });
});

describe('signed POST /v1/tasks/:id/cancel', () => {
  it('cancels a task of the secret’s team, with or without a JSON content type', async () => {
    const a = (await deliver()).json().id as string;
    const b = (await deliver({ body: JSON.stringify(taskBody({ prompt: 'second' })) })).json().id as string;
    const bare = await fx.app.inject({ method: 'POST', url: `/v1/tasks/${a}/cancel`, headers: { 'x-agentq-signature': sign(ALPHA_SECRET, nowSec(), '') } });
    expect(bare.statusCode).toBe(202);
    expect(bare.json()).toEqual({ id: a, state: 'canceled' });
    const json = await deliver({ url: `/v1/tasks/${b}/cancel`, body: '' });
    expect(json.statusCode).toBe(202);
    expect((await fx.store.require(b)).state).toBe('canceled');
    expect(await fx.queue.getJob(b)).toBeUndefined();
  });

  it('does not reach another team’s task, and refuses a bad signature', async () => {
    const res = await fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody() });
    const id = res.json().id as string;
    expect((await fx.store.require(id)).team).toBe('default');
    const other = await deliver({ url: `/v1/tasks/${id}/cancel`, body: '' });
    expect(other.statusCode).toBe(404);
    const forged = await deliver({ url: `/v1/tasks/${id}/cancel`, body: '', secret: UNKNOWN_SECRET });
    expect(forged.statusCode).toBe(401);
    expect(forged.json().error.code).toBe('INGRESS_BAD_SIGNATURE');
    const stale = await deliver({ url: `/v1/tasks/${id}/cancel`, body: '', secret: DEFAULT_SECRET, t: nowSec() - 3600 });
    expect(stale.json().error.code).toBe('INGRESS_STALE_SIGNATURE');
    expect((await fx.store.require(id)).state).toBe('queued');
    expect(await fx.queue.getJob(id)).toBeDefined();
    const admin = await deliver({ url: `/v1/tasks/${id}/cancel`, body: '', secret: DEFAULT_SECRET });
    expect(admin.statusCode).toBe(202);
    expect((await fx.store.require(id)).state).toBe('canceled');
  });
});

describe('secrets', () => {
  it('never reach the logs', async () => {
    const body = JSON.stringify(taskBody());
    await deliver({ body });
    await deliver({ body });
    await deliver({ secret: UNKNOWN_SECRET });
    await deliver({ t: nowSec() - 3600 });
    await deliver({ signature: 'garbage' });
    await deliver({ body: '{"repo": ' });
    await deliver({ headers: auth(ALPHA_TOKEN) });
    const log = lines.join('');
    expect(log).toContain('task accepted');
    expect(log).toContain('"signed":true');
    expect(log).toContain('INGRESS_BAD_SIGNATURE');
    expect(log).toContain('INGRESS_STALE_SIGNATURE');
    for (const secret of [ALPHA_SECRET, DEFAULT_SECRET]) expect(log).not.toContain(secret);
  });

  it('are secret settings: listed for redaction, never echoed in configuration errors', () => {
    const config = loadConfig({ AGENTQ_WEBHOOK_SECRETS: `${ALPHA_SECRET}:alpha, ${DEFAULT_SECRET}` });
    expect(config.webhookSecrets).toEqual([
      { secret: ALPHA_SECRET, team: 'alpha' },
      { secret: DEFAULT_SECRET, team: 'default' },
    ]);
    expect(configSecrets(config)).toEqual(expect.arrayContaining([ALPHA_SECRET, DEFAULT_SECRET]));
    expect(loadConfig({}).webhookSecrets).toEqual([]);

    const problems = (env: string): string[] => {
      try {
        loadConfig({ AGENTQ_WEBHOOK_SECRETS: env });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems;
      }
      throw new Error('expected a configuration error');
    };
    const short = problems('too-short-secret-123:alpha');
    expect(short).toEqual([expect.stringMatching(/^AGENTQ_WEBHOOK_SECRETS: entry 1 .*at least 32 characters/)]);
    expect(short.join('\n')).not.toContain('too-short-secret-123');
    expect(problems(`${ALPHA_SECRET}:alpha:extra`)).toHaveLength(1);
    expect(problems(`${ALPHA_SECRET}:not a team`)).toHaveLength(1);
    const repeated = problems(`${ALPHA_SECRET}:alpha,${ALPHA_SECRET}:beta`);
    expect(repeated).toEqual([expect.stringMatching(/entry 2 repeats/)]);
    expect(repeated.join('\n')).not.toContain(ALPHA_SECRET);
  });
});

describe('WebhookSignatureAuth', () => {
  const T = 1_700_000_000;
  const verifier = (nowSecValue: number) =>
    new WebhookSignatureAuth([{ secret: ALPHA_SECRET, team: 'alpha' }, { secret: DEFAULT_SECRET, team: 'default' }], { now: () => nowSecValue * 1000 + 999 });
  const codeOf = (work: () => unknown): string | undefined => {
    try {
      work();
    } catch (err) {
      return isAgentqError(err) ? err.code : 'not an AgentqError';
    }
    return undefined;
  };

  it('accepts exactly the window on both sides', () => {
    const header = parseSignatureHeader(sign(DEFAULT_SECRET, T, 'body'));
    expect(verifier(T + SIGNATURE_WINDOW_SEC).authenticate(header, 'body')).toEqual({ team: 'default', admin: true });
    expect(verifier(T - SIGNATURE_WINDOW_SEC).authenticate(header, 'body')).toEqual({ team: 'default', admin: true });
    expect(codeOf(() => verifier(T + SIGNATURE_WINDOW_SEC + 1).authenticate(header, 'body'))).toBe('INGRESS_STALE_SIGNATURE');
    expect(codeOf(() => verifier(T - SIGNATURE_WINDOW_SEC - 1).authenticate(header, 'body'))).toBe('INGRESS_STALE_SIGNATURE');
  });

  it('names the team of the secret that matches', () => {
    expect(verifier(T).authenticate(parseSignatureHeader(sign(ALPHA_SECRET, T, '')), '')).toEqual({ team: 'alpha', admin: false });
    expect(codeOf(() => verifier(T).authenticate(parseSignatureHeader(sign(UNKNOWN_SECRET, T, '')), ''))).toBe('INGRESS_BAD_SIGNATURE');
    expect(codeOf(() => new WebhookSignatureAuth([]).authenticate(parseSignatureHeader(sign(ALPHA_SECRET, T, '')), ''))).toBe('INGRESS_BAD_SIGNATURE');
  });

  it('signs as a caller does, and reports a missing header apart from a malformed one', () => {
    expect(signatureHeader(ALPHA_SECRET, T, '{"a":"é"}')).toBe(sign(ALPHA_SECRET, T, '{"a":"é"}'));
    const reason = (value: string | string[] | undefined) => {
      try {
        parseSignatureHeader(value);
      } catch (err) {
        return isAgentqError(err) ? [err.code, err.details?.reason] : undefined;
      }
      return undefined;
    };
    expect(reason(undefined)).toEqual(['INGRESS_UNAUTHORIZED', 'missing']);
    expect(reason('t=1')).toEqual(['INGRESS_UNAUTHORIZED', 'malformed']);
    expect(reason([sign(ALPHA_SECRET, T, ''), sign(ALPHA_SECRET, T, '')])).toEqual(['INGRESS_UNAUTHORIZED', 'malformed']);
  });
});

describe('the documented shell example', () => {
  // the example of docs/api.md (Signed webhooks), with the ingress address in AGENTQ_URL
  it('signs with openssl and sends with curl', async () => {
    const url = await fx.listen();
    const script = [
      `BODY='{"repo":"demo/hello","prompt":"add a CONTRIBUTING.md"}'`,
      'T=$(date +%s)',
      `SIG=$(printf '%s.%s' "$T" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" | awk '{print $NF}')`,
      `curl -sS -X POST $AGENTQ_URL/v1/tasks \\`,
      `  -H 'Content-Type: application/json' \\`,
      `  -H "X-Agentq-Signature: t=$T,v1=$SIG" \\`,
      `  --data-binary "$BODY"`,
    ].join('\n');
    const { stdout } = await run('bash', ['-c', script], { env: { PATH: process.env.PATH, SECRET: ALPHA_SECRET, AGENTQ_URL: url } });
    const answer = JSON.parse(stdout) as { id: string; state: string };
    expect(answer.state).toBe('queued');
    expect((await fx.store.require(answer.id)).team).toBe('alpha');
  });
});
