import { taskSpend } from '@agentq/shared';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MODEL_API_REQUEST_ID as REQUEST_ID, anthropicMessage, anthropicStream, openAiResponse, openAiStream, startTestRedis, waitFor, type TestRedis } from '@agentq/shared/testing';
import { auth } from './ingress-fixture.js';
import { ANTHROPIC_KEY, OPENAI_KEY, call, startGateway, type GatewayFixture } from './gateway-fixture.js';

let redis: TestRedis;
let gw: GatewayFixture;

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis.stop();
});
beforeEach(async () => {
  gw = await startGateway(redis.url);
});
afterEach(async () => {
  await gw.close();
});

const usageEvents = async (taskId: string) => (await gw.fx.store.readEvents(taskId)).filter((e) => e.kind === 'agent.usage');
const waitForUsage = (taskId: string, count = 1) =>
  waitFor(async () => {
    const events = await usageEvents(taskId);
    return events.length >= count ? events : undefined;
  });

describe('model gateway: faithful proxying', () => {
  it('passes an Anthropic stream through byte for byte with the real key upstream, never the task token', async () => {
    const { taskId, token } = await gw.task();
    const chunks = anthropicStream();
    gw.upstream.answer = () => ({ headers: { 'content-type': 'text/event-stream; charset=utf-8', 'anthropic-ratelimit-requests-remaining': '49' }, chunks });
    const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const res = await call(gw.url, '/llm/anthropic/v1/messages?beta=true', { token, body, headers: { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'x' } });
    expect(res.status).toBe(200);
    expect(res.body).toBe(chunks.join(''));
    expect(res.headers['request-id']).toBe(REQUEST_ID);
    expect(res.headers['anthropic-ratelimit-requests-remaining']).toBe('49');
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const [seen] = gw.upstream.calls;
    expect(seen?.url).toBe('/v1/messages?beta=true');
    expect(seen?.body).toBe(body);
    expect(seen?.headers['x-api-key']).toBe(ANTHROPIC_KEY);
    expect(seen?.headers.authorization).toBeUndefined();
    expect(seen?.headers['anthropic-version']).toBe('2023-06-01');
    expect(seen?.headers['anthropic-beta']).toBe('x');
    expect(seen?.headers.host).toBe(new URL(gw.upstream.url).host);
    expect(JSON.stringify(seen?.headers)).not.toContain(token);
    await waitForUsage(taskId);
  });

  it('passes a non-streamed Anthropic answer and count_tokens through unchanged', async () => {
    const { token } = await gw.task();
    const message = anthropicMessage();
    gw.upstream.answer = (c) => ({ headers: { 'content-type': 'application/json' }, chunks: [c.url.includes('count_tokens') ? '{"input_tokens":42}' : message] });
    const res = await call(gw.url, '/llm/anthropic/v1/messages', { token, body: '{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[]}' });
    expect(res.status).toBe(200);
    expect(res.body).toBe(message);
    expect(res.headers['request-id']).toBe(REQUEST_ID);
    const counted = await call(gw.url, '/llm/anthropic/v1/messages/count_tokens', { token });
    expect(counted.body).toBe('{"input_tokens":42}');
    expect(gw.upstream.calls.map((c) => c.url)).toEqual(['/v1/messages', '/v1/messages/count_tokens']);
  });

  it('passes OpenAI Responses streams and answers through with the real key as Bearer', async () => {
    const { token } = await gw.task();
    const chunks = openAiStream();
    gw.upstream.answer = (c) => (c.body.includes('"stream":true') ? { headers: { 'content-type': 'text/event-stream' }, chunks } : { headers: { 'content-type': 'application/json' }, chunks: [openAiResponse()] });
    const streamed = await call(gw.url, '/llm/openai/responses', { token, bearer: true, body: '{"model":"gpt-5","stream":true,"input":"hi"}' });
    expect(streamed.status).toBe(200);
    expect(streamed.body).toBe(chunks.join(''));
    const whole = await call(gw.url, '/llm/openai/responses', { token, bearer: true, body: '{"model":"gpt-5","input":"hi"}' });
    expect(whole.body).toBe(openAiResponse());
    expect(whole.headers['request-id']).toBe(REQUEST_ID);
    for (const seen of gw.upstream.calls) {
      expect(seen.url).toBe('/v1/responses');
      expect(seen.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
      expect(JSON.stringify(seen.headers)).not.toContain(token);
    }
  });

  it('hands each streamed chunk to the client before the upstream sends the next', async () => {
    const { token } = await gw.task();
    const chunks = anthropicStream({ text: ['one', 'two', 'three'] });
    const delivered: string[] = [];
    let release: () => void = () => {};
    gw.upstream.answer = () => ({
      headers: { 'content-type': 'text/event-stream' },
      chunks,
      // chunk i is written only once the client saw chunk i-1
      before: async (i) => {
        if (i === 0) return;
        await new Promise<void>((resolve) => {
          release = resolve;
          if (delivered.join('') === chunks.slice(0, i).join('')) resolve();
        });
      },
    });
    const res = await request(`${gw.url}/llm/anthropic/v1/messages`, { method: 'POST', headers: { 'x-api-key': token, 'content-type': 'application/json' }, body: '{"stream":true}' });
    for await (const chunk of res.body) {
      delivered.push((chunk as Buffer).toString('utf8'));
      const got = delivered.join('');
      const sentCount = chunks.findIndex((_, i) => chunks.slice(0, i + 1).join('') === got);
      if (sentCount !== -1) release();
    }
    expect(delivered.join('')).toBe(chunks.join(''));
    // every chunk came on its own: the client held chunk i before chunk i+1 existed
    expect(delivered.length).toBeGreaterThanOrEqual(chunks.length);
  });

  it('passes the upstream\'s errors through unchanged: 429 with retry-after, 529 overloaded, 500', async () => {
    const { token } = await gw.task();
    const cases: { status: number; headers: Record<string, string>; body: string }[] = [
      { status: 429, headers: { 'retry-after': '17', 'content-type': 'application/json' }, body: '{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}' },
      { status: 529, headers: { 'content-type': 'application/json' }, body: '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}' },
      { status: 500, headers: { 'content-type': 'application/json', 'x-should-retry': 'true' }, body: '{"type":"error","error":{"type":"api_error","message":"Internal server error"}}' },
    ];
    for (const c of cases) {
      gw.upstream.answer = () => ({ status: c.status, headers: c.headers, chunks: [c.body] });
      const res = await call(gw.url, '/llm/anthropic/v1/messages', { token });
      expect(res.status).toBe(c.status);
      expect(res.body).toBe(c.body);
      expect(res.headers['request-id']).toBe(REQUEST_ID);
      for (const [name, value] of Object.entries(c.headers)) expect(res.headers[name]).toBe(value);
    }
    const openAi = '{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}';
    gw.upstream.answer = () => ({ status: 429, headers: { 'retry-after': '3', 'content-type': 'application/json' }, chunks: [openAi] });
    const res = await call(gw.url, '/llm/openai/responses', { token, bearer: true });
    expect([res.status, res.headers['retry-after'], res.body]).toEqual([429, '3', openAi]);
  });

  it('forwards a 5 MB request body whole (the app\'s own body limit is 4 KB)', async () => {
    const { token } = await gw.task();
    const body = JSON.stringify({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'x'.repeat(5 * 1024 * 1024) }] });
    const res = await call(gw.url, '/llm/anthropic/v1/messages', { token, body });
    expect(res.status).toBe(200);
    expect(gw.upstream.calls[0]?.body).toBe(body);
    // the task API keeps its small limit
    const api = await gw.fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: { ...auth(), 'content-type': 'application/json' }, payload: body });
    expect(api.statusCode).toBe(413);
  });

  it('refuses a body over 32 MiB with 413 in the provider\'s shape, forwarding nothing', async () => {
    const { token } = await gw.task();
    const res = await call(gw.url, '/llm/anthropic/v1/messages', { token, body: Buffer.alloc(33 * 1024 * 1024, 0x20) });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toMatchObject({ type: 'error', error: { type: 'request_too_large' } });
    expect(gw.upstream.calls).toEqual([]);
  });

  it('answers 502 in the provider\'s shape when the upstream cannot be reached', async () => {
    const { token } = await gw.task();
    await gw.upstream.stop();
    const res = await call(gw.url, '/llm/anthropic/v1/messages', { token });
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body)).toMatchObject({ type: 'error', error: { type: 'api_error' } });
  });
});

describe('model gateway: metering', () => {
  it('meters a streamed Anthropic call with its cache tokens: spend in Redis and agent.usage events with the running cost', async () => {
    const { taskId, token } = await gw.task();
    gw.upstream.answer = () => ({ headers: { 'content-type': 'text/event-stream' }, chunks: anthropicStream({ input: 1000, output: 500, cacheRead: 30000, cacheWrite: 2000 }) });
    await call(gw.url, '/llm/anthropic/v1/messages', { token, body: '{"stream":true}' });
    await call(gw.url, '/llm/anthropic/v1/messages', { token, body: '{"stream":true}' });
    const events = await waitForUsage(taskId, 2);
    // sonnet 4.5: $3 in, $15 out, $0.30 cache read, $3.75 cache write per million
    const one = (1000 * 3 + 500 * 15 + 30000 * 0.3 + 2000 * 3.75) / 1e6;
    expect(events[0]).toMatchObject({ inputTokens: 1000, outputTokens: 500, cacheReadTokens: 30000, cacheWriteTokens: 2000 });
    expect(events.map((e) => (e.kind === 'agent.usage' ? e.costUsd : 0))).toEqual([expect.closeTo(one, 9), expect.closeTo(2 * one, 9)]);
    expect(await taskSpend(gw.fx.redis, gw.fx.keys, taskId)).toBeCloseTo(2 * one, 9);
    // the task API shows it as the live cost
    const shown = await gw.fx.app.inject({ method: 'GET', url: `/v1/tasks/${taskId}`, headers: auth() });
    expect(shown.json().spentUsd).toBeCloseTo(2 * one, 9);
    const metrics = await gw.fx.metricsText();
    expect(metrics).toMatch(/agentq_gateway_cost_usd_total\{[^}]*team="default"[^}]*\} 0\.0/);
    expect(metrics).toMatch(/agentq_gateway_calls_total\{[^}]*provider="anthropic"[^}]*status="200"[^}]*\} 2/);
  });

  it('meters non-streamed Anthropic and OpenAI answers, OpenAI\'s cached tokens at the cached price', async () => {
    const { taskId, token } = await gw.task();
    gw.upstream.answer = (c) => ({
      headers: { 'content-type': 'application/json' },
      chunks: [c.url.includes('responses') ? openAiResponse({ model: 'gpt-4.1-2025-04-14', input: 10000, cached: 8000, output: 100 }) : anthropicMessage({ model: 'claude-haiku-4-5-20251001', input: 2000, output: 300 })],
    });
    await call(gw.url, '/llm/anthropic/v1/messages', { token });
    await waitForUsage(taskId, 1);
    await call(gw.url, '/llm/openai/responses', { token, bearer: true });
    const events = await waitForUsage(taskId, 2);
    const haiku = (2000 * 1 + 300 * 5) / 1e6;
    const gpt41 = (2000 * 2 + 8000 * 0.5 + 100 * 8) / 1e6;
    expect(events[1]).toMatchObject({ inputTokens: 2000, cacheReadTokens: 8000, outputTokens: 100 });
    expect(events[1]?.kind === 'agent.usage' && events[1].costUsd).toBeCloseTo(haiku + gpt41, 9);
  });

  it('meters an OpenAI stream from response.completed', async () => {
    const { taskId, token } = await gw.task();
    gw.upstream.answer = () => ({ headers: { 'content-type': 'text/event-stream' }, chunks: openAiStream({ model: 'gpt-5-mini-2025-08-07', input: 4000, cached: 1000, output: 700 }) });
    await call(gw.url, '/llm/openai/responses', { token, bearer: true, body: '{"stream":true}' });
    const [event] = await waitForUsage(taskId);
    expect(event).toMatchObject({ inputTokens: 3000, cacheReadTokens: 1000, outputTokens: 700 });
    expect(event?.kind === 'agent.usage' && event.costUsd).toBeCloseTo((3000 * 0.25 + 1000 * 0.025 + 700 * 2) / 1e6, 9);
  });

  it('meters what arrived of a stream the client broke off, and lets the upstream go', async () => {
    const { taskId, token } = await gw.task();
    let upstreamGone = false;
    gw.upstream.answer = () => ({
      headers: { 'content-type': 'text/event-stream' },
      chunks: anthropicStream({ input: 1000, cacheRead: 0, cacheWrite: 0 }),
      // after message_start the upstream waits for nothing but the connection to close
      before: async (i) => {
        if (i > 0) await new Promise<void>((resolve) => setTimeout(resolve, 5_000));
      },
    });
    gw.upstream.onClose = () => {
      upstreamGone = true;
    };
    const res = await request(`${gw.url}/llm/anthropic/v1/messages`, { method: 'POST', headers: { 'x-api-key': token, 'content-type': 'application/json' }, body: '{"stream":true}' });
    for await (const chunk of res.body) {
      expect((chunk as Buffer).toString('utf8')).toContain('message_start');
      break;
    }
    const [event] = await waitForUsage(taskId);
    expect(event).toMatchObject({ inputTokens: 1000, outputTokens: 1 });
    await waitFor(() => upstreamGone, { what: 'the upstream connection closed' });
  });

  it('prices a model missing from the table at the default price, never free, and logs it once', async () => {
    const { taskId, token } = await gw.task();
    gw.upstream.answer = () => ({ headers: { 'content-type': 'application/json' }, chunks: [anthropicMessage({ model: 'claude-unheard-of-9', input: 1000, output: 1000 })] });
    await call(gw.url, '/llm/anthropic/v1/messages', { token });
    await call(gw.url, '/llm/anthropic/v1/messages', { token });
    const events = await waitForUsage(taskId, 2);
    // the default AGENTQ_MODEL_DEFAULT_PRICE is 15,75
    expect(events[0]?.kind === 'agent.usage' && events[0].costUsd).toBeCloseTo((1000 * 15 + 1000 * 75) / 1e6, 9);
    const warnings = gw.logs.filter((l) => l.includes('claude-unheard-of-9') && l.includes('price table'));
    expect(warnings).toHaveLength(1);
  });
});
