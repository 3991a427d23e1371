import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { budgetStop, recordSpend, revokeGatewayTokens } from '@agentq/shared';
import { anthropicMessage, makeTempDir, startTestRedis, waitFor, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { call, startGateway, type GatewayFixture } from './gateway-fixture.js';
import { ALPHA_TOKEN } from './ingress-fixture.js';

let redis: TestRedis;
let gw: GatewayFixture | undefined;

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis.stop();
});
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

const start = async (env: Record<string, string> = {}) => {
  gw = await startGateway(redis.url, env);
  return gw;
};
const MADE_UP = `aqg_${'A'.repeat(43)}`;

describe('model gateway: tokens', () => {
  it('answers 401 in each provider\'s shape for no token, a made-up one and a revoked one, sending nothing upstream', async () => {
    const g = await start();
    const { taskId, token } = await g.task();
    await revokeGatewayTokens(g.fx.redis, g.fx.keys, taskId);
    for (const sent of [undefined, MADE_UP, 'sk-ant-whatever', token]) {
      const anthropic = await call(g.url, '/llm/anthropic/v1/messages', { token: sent });
      expect(anthropic.status).toBe(401);
      expect(JSON.parse(anthropic.body)).toEqual({ type: 'error', error: { type: 'authentication_error', message: expect.stringContaining('gateway token') } });
      const openai = await call(g.url, '/llm/openai/responses', { token: sent, bearer: true });
      expect(openai.status).toBe(401);
      expect(JSON.parse(openai.body)).toMatchObject({ error: { message: expect.stringContaining('gateway token'), type: 'invalid_request_error', code: 'invalid_api_key' } });
    }
    expect(g.upstream.calls).toEqual([]);
    expect(g.logs.join('\n')).not.toContain(token);
  });

  it('grants nothing outside /llm: a gateway token on the task API is 401', async () => {
    const g = await start();
    const { taskId, token } = await g.task();
    for (const [method, url] of [['GET', '/v1/tasks'], ['GET', `/v1/tasks/${taskId}`], ['POST', '/v1/tasks']] as const) {
      const res = await g.fx.app.inject({ method, url, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: method === 'POST' ? '{}' : undefined });
      expect(res.statusCode, `${method} ${url}`).toBe(401);
      expect(res.json().error.code).toBe('INGRESS_UNAUTHORIZED');
    }
    expect(g.upstream.calls).toEqual([]);
  });

  it('refuses a task that has ended with 403, even with a token not yet revoked', async () => {
    const g = await start();
    const { taskId, token } = await g.task();
    expect((await g.fx.store.transition(taskId, 'canceled')).ok).toBe(true);
    const res = await call(g.url, '/llm/anthropic/v1/messages', { token });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ type: 'error', error: { type: 'permission_error' } });
    expect(g.upstream.calls).toEqual([]);
  });

  it('answers 503 in the provider\'s shape for a provider without a credential', async () => {
    const g = await start({ OPENAI_API_KEY: '' });
    const { token } = await g.task();
    const res = await call(g.url, '/llm/openai/responses', { token, bearer: true });
    expect(res.status).toBe(503);
    expect(res.headers['x-should-retry']).toBe('false');
    expect(JSON.parse(res.body)).toMatchObject({ error: { message: expect.stringContaining('no openai credential'), type: 'server_error' } });
    expect(g.upstream.calls).toEqual([]);
  });

  it('sends ANTHROPIC_AUTH_TOKEN upstream as a Bearer token when no API key is set', async () => {
    const g = await start({ ANTHROPIC_API_KEY: '', ANTHROPIC_AUTH_TOKEN: 'company-proxy-token-0123456789' });
    const { token } = await g.task();
    expect((await call(g.url, '/llm/anthropic/v1/messages', { token })).status).toBe(200);
    expect(g.upstream.calls[0]?.headers.authorization).toBe('Bearer company-proxy-token-0123456789');
    expect(g.upstream.calls[0]?.headers['x-api-key']).toBeUndefined();
  });
});

describe('model gateway: Redis unreachable', () => {
  it('answers 503 with retry-after in the provider\'s shape and forwards nothing', async () => {
    const own = await startTestRedis({ private: true });
    try {
      const g = await startGateway(own.url);
      gw = g;
      const { token } = await g.task();
      await own.stop();
      const res = await call(g.url, '/llm/anthropic/v1/messages', { token });
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('2');
      expect(JSON.parse(res.body)).toMatchObject({ type: 'error', error: { type: 'api_error', message: expect.stringContaining('retry later') } });
      expect(g.upstream.calls).toEqual([]);
      expect(g.logs.join('\n')).toContain('INGRESS_GATEWAY_UNAVAILABLE');
    } finally {
      await own.stop();
    }
  });
});

describe('model gateway: budgets', () => {
  it('refuses a task whose metered spend reached its limit, in the provider\'s format, and records the budget stop', async () => {
    const g = await start();
    const { taskId, team, token } = await g.task({ limits: { maxCostUsd: 0.01 } });
    expect((await call(g.url, '/llm/anthropic/v1/messages', { token })).status).toBe(200);
    await recordSpend(g.fx.redis, g.fx.keys, { taskId, team, usd: 0.02, at: new Date() });
    const upstreamCalls = g.upstream.calls.length;
    const res = await call(g.url, '/llm/anthropic/v1/messages', { token });
    expect(res.status).toBe(402);
    expect(res.headers['x-should-retry']).toBe('false');
    expect(JSON.parse(res.body)).toEqual({ type: 'error', error: { type: 'billing_error', message: expect.stringContaining('spending limit of $0.01') } });
    const openai = await call(g.url, '/llm/openai/responses', { token, bearer: true });
    expect(openai.status).toBe(429);
    expect(JSON.parse(openai.body)).toMatchObject({ error: { type: 'insufficient_quota', code: 'insufficient_quota' } });
    expect(g.upstream.calls.length).toBe(upstreamCalls);
    expect(await budgetStop(g.fx.redis, g.fx.keys, taskId)).toEqual({ scope: 'task', limitUsd: 0.01, spentUsd: expect.any(Number) });
    const metrics = await g.fx.metricsText();
    expect(metrics).toMatch(/agentq_gateway_refusals_total\{[^}]*reason="task_budget"[^}]*\} 1/);
  });

  it('refuses every task of a team whose spend today, by two tasks, reached its cap', async () => {
    const g = await start({ AGENTQ_TEAM_DAILY_USD: 'alpha:0.05' });
    const first = await g.task({ token: ALPHA_TOKEN });
    const second = await g.task({ token: ALPHA_TOKEN });
    const other = await g.task();
    await recordSpend(g.fx.redis, g.fx.keys, { taskId: first.taskId, team: 'alpha', usd: 0.03, at: new Date() });
    expect((await call(g.url, '/llm/anthropic/v1/messages', { token: second.token })).status).toBe(200);
    await recordSpend(g.fx.redis, g.fx.keys, { taskId: second.taskId, team: 'alpha', usd: 0.03, at: new Date() });
    const upstreamCalls = g.upstream.calls.length;
    for (const t of [first, second]) {
      const res = await call(g.url, '/llm/anthropic/v1/messages', { token: t.token });
      expect(res.status).toBe(402);
      expect(JSON.parse(res.body).error.message).toContain('team alpha reached its daily spending cap of $0.05');
      expect(await budgetStop(g.fx.redis, g.fx.keys, t.taskId)).toMatchObject({ scope: 'team', limitUsd: 0.05 });
    }
    expect(g.upstream.calls.length).toBe(upstreamCalls);
    // another team is not affected
    expect((await call(g.url, '/llm/anthropic/v1/messages', { token: other.token })).status).toBe(200);
  });
});

describe('model gateway: rate limits', () => {
  it('answers 429 with retry-after beyond a task\'s calls per minute, and beyond the team\'s', async () => {
    const g = await start({ AGENTQ_GATEWAY_TASK_RPM: '2', AGENTQ_GATEWAY_TEAM_RPM: '3' });
    const a = await g.task();
    const b = await g.task();
    expect((await call(g.url, '/llm/anthropic/v1/messages', { token: a.token })).status).toBe(200);
    expect((await call(g.url, '/llm/anthropic/v1/messages', { token: a.token })).status).toBe(200);
    const limited = await call(g.url, '/llm/anthropic/v1/messages', { token: a.token });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(JSON.parse(limited.body)).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    // the team has made 3 calls this minute: task b's first is over the team's rate
    const team = await call(g.url, '/llm/openai/responses', { token: b.token, bearer: true });
    expect(team.status).toBe(429);
    expect(JSON.parse(team.body)).toMatchObject({ error: { code: 'rate_limit_exceeded', message: expect.stringContaining('team default') } });
    expect(g.upstream.calls.length).toBe(2);
  });
});

describe('model gateway: prices file', () => {
  it('replaces and adds prices from AGENTQ_MODEL_PRICES (YAML or JSON)', async () => {
    const dir = await makeTempDir('agentq-prices-');
    try {
      const file = join(dir.path, 'prices.yaml');
      await writeFile(file, 'claude-sonnet-4-5:\n  input: 100\n  output: 200\nhouse-model:\n  input: 1\n  output: 2\n');
      const g = await start({ AGENTQ_MODEL_PRICES: file });
      const { taskId, token } = await g.task();
      let model = 'claude-sonnet-4-5-20250929';
      g.upstream.answer = () => ({ headers: { 'content-type': 'application/json' }, chunks: [anthropicMessage({ model, input: 1000, output: 1000 })] });
      await call(g.url, '/llm/anthropic/v1/messages', { token });
      model = 'house-model';
      await call(g.url, '/llm/anthropic/v1/messages', { token });
      const costs = await waitFor(async () => {
        const events = (await g.fx.store.readEvents(taskId)).flatMap((e) => (e.kind === 'agent.usage' ? [e.costUsd ?? 0] : []));
        return events.length === 2 ? events : undefined;
      });
      expect(costs[0]).toBeCloseTo(0.3, 9);
      expect(costs[1]).toBeCloseTo(0.3 + 0.003, 9);
    } finally {
      await dir.remove();
    }
  });

  it('refuses to start with a prices file that is not a table of prices', async () => {
    const dir = await makeTempDir('agentq-prices-');
    try {
      const file = join(dir.path, 'prices.json');
      await writeFile(file, JSON.stringify({ 'claude-x': { input: 'three', output: 15 } }));
      await expect(start({ AGENTQ_MODEL_PRICES: file })).rejects.toMatchObject({ code: 'INGRESS_GATEWAY_PRICES_INVALID', message: expect.stringContaining('claude-x.input') });
      await writeFile(file, '{not json: [');
      await expect(start({ AGENTQ_MODEL_PRICES: file })).rejects.toMatchObject({ code: 'INGRESS_GATEWAY_PRICES_INVALID' });
      await expect(start({ AGENTQ_MODEL_PRICES: join(dir.path, 'missing.json') })).rejects.toMatchObject({ code: 'INGRESS_GATEWAY_PRICES_INVALID' });
    } finally {
      await dir.remove();
    }
  });
});
