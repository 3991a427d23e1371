import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { recordSpend, budgetStop } from '@agentq/shared';
import { makeTempDir, startTestRedis, waitFor, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ANTHROPIC_KEY, startGateway, type GatewayFixture } from './gateway-fixture.js';

const CLAUDE_BIN = resolve(import.meta.dirname, '../../../node_modules/.bin/claude');

let redis: TestRedis;
let gw: GatewayFixture;
let home: { path: string; remove(): Promise<void> };

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis.stop();
});
beforeEach(async () => {
  gw = await startGateway(redis.url);
  home = await makeTempDir('agentq-claude-home-');
});
afterEach(async () => {
  await gw.close();
  await home.remove();
});

/** The real Claude Code CLI, pointed at the gateway with a task's token, in an empty home. */
function runClaude(token: string): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((done) => {
    execFile(
      CLAUDE_BIN,
      ['-p', 'say hello', '--output-format', 'stream-json', '--verbose', '--max-turns', '2'],
      {
        cwd: home.path,
        timeout: 90_000,
        env: {
          PATH: process.env.PATH,
          HOME: home.path,
          ANTHROPIC_BASE_URL: `${gw.url}/llm/anthropic`,
          ANTHROPIC_API_KEY: token,
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        },
      },
      (err, stdout, stderr) => done({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr, ms: Date.now() - started }),
    );
  });
}

const resultOf = (stdout: string) =>
  stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .find((event) => event.type === 'result');

describe('model gateway with the real Claude Code CLI', () => {
  it('runs a prompt to its result through the gateway; the upstream sees only the real key', async () => {
    const { taskId, token } = await gw.task();
    const run = await runClaude(token);
    expect(run.code, run.stderr).toBe(0);
    expect(resultOf(run.stdout)).toMatchObject({ type: 'result', is_error: false, result: expect.stringContaining('Hello world') });
    const messages = gw.upstream.calls.filter((c) => c.url.startsWith('/v1/messages'));
    expect(messages.length).toBeGreaterThanOrEqual(1);
    for (const c of gw.upstream.calls) {
      expect(c.headers['x-api-key']).toBe(ANTHROPIC_KEY);
      expect(JSON.stringify(c.headers)).not.toContain(token);
    }
    const usage = await waitFor(async () => (await gw.fx.store.readEvents(taskId)).find((e) => e.kind === 'agent.usage'));
    expect(usage).toMatchObject({ inputTokens: 1000, outputTokens: 500, costUsd: expect.any(Number) });
  });

  it('stops at once with a clear error when the task\'s budget is spent: no retries, nothing upstream', async () => {
    const { taskId, team, token } = await gw.task({ limits: { maxCostUsd: 0.01 } });
    await recordSpend(gw.fx.redis, gw.fx.keys, { taskId, team, usd: 0.02, at: new Date() });
    const run = await runClaude(token);
    expect(run.code).not.toBe(0);
    expect(run.ms).toBeLessThan(60_000);
    expect(resultOf(run.stdout)).toMatchObject({ is_error: true, result: expect.stringContaining('spending limit of $0.01') });
    expect(gw.upstream.calls).toEqual([]);
    expect(await budgetStop(gw.fx.redis, gw.fx.keys, taskId)).toMatchObject({ scope: 'task', limitUsd: 0.01 });
    const refusals = (await gw.fx.metricsText()).match(/agentq_gateway_refusals_total\{[^}]*reason="task_budget"[^}]*\} (\d+)/);
    // one model call, not a retry loop
    expect(Number(refusals?.[1])).toBeLessThanOrEqual(2);
  });
});
