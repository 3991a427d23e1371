import { readFile, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DEFAULT_TEAM,
  DEMO_REPO,
  lookupGatewayToken,
  recordSpend,
  setBudgetStop,
  taskSpend,
  teamCostOfDay,
  type TaskRecord,
} from '@agentq/shared';
import { makeTempDir, startTestRedis, waitFor, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isGroupAlive } from '../src/providers/local/process-group.js';
import { RuntimeSecrets } from '../src/runtime-secrets.js';
import { startDispatcherFixture, type DispatcherFixture } from './support/dispatcher-fixture.js';
import { dumpRedis } from './support/redis-dump.js';

const GATEWAY_URL = 'http://127.0.0.1:9/gateway';
const TOKEN = /aqg_[A-Za-z0-9_-]{43}/;

/**
 * An agent that leaves the token it was given in its HOME (for the test to look up), prints its
 * environment, and then waits for `$HOME/go`: `ok` ends it well, `fail` with code 3, `cost:<usd>`
 * reports that cost in a stream-json result first.
 */
const AGENT = `#!/bin/bash
printf '%s' "\${ANTHROPIC_API_KEY:-\${AGENTQ_MODEL_TOKEN:-}}" > "$HOME/token"
echo "gateway at $ANTHROPIC_BASE_URL"
env | sort
while [ ! -e "$HOME/go" ]; do sleep 0.1; done
mode=$(cat "$HOME/go")
case "$mode" in
  fail) echo "giving up"; exit 3 ;;
  cost:*) echo "{\\"type\\":\\"result\\",\\"subtype\\":\\"success\\",\\"is_error\\":false,\\"num_turns\\":1,\\"total_cost_usd\\":\${mode#cost:},\\"result\\":\\"done\\"}" ;;
esac
exit 0
`;

describe('the model gateway, from the dispatcher', () => {
  let redis: TestRedis;
  let tmp: { path: string; remove: () => Promise<void> };
  let agent: string;
  let fx: DispatcherFixture | undefined;

  beforeAll(async () => {
    redis = await startTestRedis();
    tmp = await makeTempDir('agentq-gateway-');
    agent = join(tmp.path, 'agent.sh');
    await writeFile(agent, AGENT);
    await chmod(agent, 0o755);
  });
  afterAll(async () => {
    await tmp?.remove();
    await redis?.stop();
  });
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  /** The gateway has Anthropic and OpenAI credentials; the agent is the script above, as Claude Code or as a command. */
  const start = (harness: 'claude-code' | 'command') =>
    startDispatcherFixture(redis.url, {
      AGENTQ_HARNESS: harness,
      AGENTQ_CLAUDE_BIN: agent,
      AGENTQ_HARNESS_COMMAND: agent,
      AGENTQ_GATEWAY_URL: GATEWAY_URL,
      ANTHROPIC_API_KEY: 'sk-ant-gateway-only-4b1d9e0c7a3f',
      OPENAI_API_KEY: 'sk-openai-gateway-only-9c2e7f1a',
    });

  const home = (f: DispatcherFixture, id: string) => join(f.dataDir, 'sandboxes', id, 'home');

  /** The token the task's agent was given, once it is running. */
  async function tokenOf(f: DispatcherFixture, id: string): Promise<string> {
    return waitFor(
      async () => {
        const token = await readFile(join(home(f, id), 'token'), 'utf8').catch(() => '');
        return token.length > 0 ? token : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 50, what: `the agent of ${id} to start` },
    );
  }

  const go = (f: DispatcherFixture, id: string, mode: string) => writeFile(join(home(f, id), 'go'), mode);

  /** Nothing the dispatcher wrote (transcript, record, Redis, logs) holds the token. */
  async function expectNowhere(f: DispatcherFixture, id: string, token: string): Promise<string> {
    const transcript = JSON.stringify(await f.events(id));
    expect(transcript).not.toContain(token);
    expect(JSON.stringify(await f.store.get(id))).not.toContain(token);
    expect(await dumpRedis(f.redis)).not.toContain(token);
    expect(f.logs.join('')).not.toContain(token);
    return transcript;
  }

  it('gives a claude-code sandbox the gateway and a token of its task, redacted everywhere and revoked when the task succeeds', async () => {
    fx = await start('claude-code');
    const id = await fx.submit({ repo: DEMO_REPO, prompt: 'print your environment' });
    const token = await tokenOf(fx, id);
    expect(token).toMatch(new RegExp(`^${TOKEN.source}$`));
    expect(await lookupGatewayToken(fx.redis, fx.keys, token)).toEqual({ taskId: id, team: DEFAULT_TEAM });
    await go(fx, id, 'ok');
    const record = await fx.waitFinal(id, 20_000);
    expect(record.state, JSON.stringify(record.error)).toBe('succeeded');
    expect(await lookupGatewayToken(fx.redis, fx.keys, token)).toBeUndefined();

    const transcript = await expectNowhere(fx, id, token);
    expect(transcript).toContain(`gateway at ${GATEWAY_URL}/llm/anthropic`);
    expect(transcript).toContain('ANTHROPIC_API_KEY=[REDACTED]');
    // no model key of the gateway's own entered the sandbox
    expect(transcript).not.toContain('sk-ant-gateway-only');
    expect(transcript).not.toContain('sk-openai-gateway-only');
    expect(transcript).not.toContain('OPENAI_API_KEY');
  });

  it('revokes the token of a task that failed, and of one canceled while it ran', async () => {
    fx = await start('command');
    const failing = await fx.submit({ repo: DEMO_REPO, prompt: 'fail' });
    const failingToken = await tokenOf(fx, failing);
    expect(await lookupGatewayToken(fx.redis, fx.keys, failingToken)).toEqual({ taskId: failing, team: DEFAULT_TEAM });
    await go(fx, failing, 'fail');
    const failed = await fx.waitFinal(failing, 20_000);
    expect(failed.state).toBe('failed');
    expect(failed.error?.code).toBe('DISPATCH_AGENT_FAILED');
    expect(await lookupGatewayToken(fx.redis, fx.keys, failingToken)).toBeUndefined();
    const transcript = await expectNowhere(fx, failing, failingToken);
    // a custom agent may call either provider through the gateway
    expect(transcript).toContain(`OPENAI_BASE_URL=${GATEWAY_URL}/llm/openai`);
    expect(transcript).toContain('AGENTQ_MODEL_TOKEN=[REDACTED]');
    expect(transcript).toContain('ANTHROPIC_API_KEY=[REDACTED]');

    const canceling = await fx.submit({ repo: DEMO_REPO, prompt: 'wait' });
    const cancelToken = await tokenOf(fx, canceling);
    expect(await lookupGatewayToken(fx.redis, fx.keys, cancelToken)).toBeDefined();
    await fx.cancel(canceling);
    expect((await fx.waitFinal(canceling, 20_000)).state).toBe('canceled');
    expect(await lookupGatewayToken(fx.redis, fx.keys, cancelToken)).toBeUndefined();
    await expectNowhere(fx, canceling, cancelToken);
  });

  it('redacts a gateway token by its shape, also for a dispatcher that never learned it', async () => {
    fx = await start('command');
    const id = await fx.submit({ repo: DEMO_REPO, prompt: 'wait' });
    const token = await tokenOf(fx, id);
    // what a dispatcher that re-attached after a restart holds: the configured secrets only
    const fresh = new RuntimeSecrets([]);
    expect(fresh.redact(`ANTHROPIC_API_KEY=${token} and "${token}"`)).toBe('ANTHROPIC_API_KEY=[REDACTED] and "[REDACTED]"');
    expect(fresh.redact('aqg_short stays')).toBe('aqg_short stays');
    await fx.cancel(id);
    await fx.waitFinal(id, 20_000);
  });

  async function expectSandboxGone(f: DispatcherFixture, record: TaskRecord): Promise<void> {
    const meta = JSON.parse(await readFile(join(f.dataDir, 'sandboxes', record.sandboxId ?? '', 'sandbox.json'), 'utf8')) as { pgid?: number };
    expect(meta.pgid).toBeGreaterThan(1);
    expect(isGroupAlive(meta.pgid ?? 0)).toBe(false);
  }

  it('stops a running task whose metered spend passes its limit, and records that spend as its cost', async () => {
    fx = await start('command');
    const id = await fx.submit({ repo: DEMO_REPO, prompt: 'spend', limits: { maxCostUsd: 0.5 } });
    await tokenOf(fx, id);
    // what the gateway does on each model call
    await recordSpend(fx.redis, fx.keys, { taskId: id, team: DEFAULT_TEAM, usd: 0.3, at: new Date() });
    await recordSpend(fx.redis, fx.keys, { taskId: id, team: DEFAULT_TEAM, usd: 0.35, at: new Date() });
    const startedWait = Date.now();
    const record = await fx.waitFinal(id, 10_000);
    expect(Date.now() - startedWait).toBeLessThan(5_000);
    expect(record.state).toBe('failed');
    expect(record.error?.code).toBe('DISPATCH_BUDGET_EXCEEDED');
    expect(record.error?.message).toContain('$0.650');
    expect(record.error?.message).toContain('$0.500');
    expect(record.error?.message).toContain('limits.maxCostUsd');
    expect(record.costUsd).toBeCloseTo(0.65, 9);
    await expectSandboxGone(fx, record);
    // the gateway counted it in the team's day already: nothing is added twice
    expect(await teamCostOfDay(fx.redis, fx.keys, DEFAULT_TEAM, new Date())).toBeCloseTo(0.65, 9);
  });

  it('stops a running task at once when the gateway refused a call because its team reached its daily cap', async () => {
    fx = await start('command');
    const id = await fx.submit({ repo: DEMO_REPO, prompt: 'spend' });
    await tokenOf(fx, id);
    await setBudgetStop(fx.redis, fx.keys, id, { scope: 'team', limitUsd: 20, spentUsd: 20.25 });
    const record = await fx.waitFinal(id, 10_000);
    expect(record.state).toBe('failed');
    expect(record.error?.code).toBe('DISPATCH_BUDGET_EXCEEDED');
    expect(record.error?.message).toContain('AGENTQ_TEAM_DAILY_USD');
    expect(record.error?.message).toContain('$20.00');
    expect(record.error?.message).toContain('$20.25');
    await expectSandboxGone(fx, record);
  });

  it('adds to the team of the day only what the gateway did not meter', async () => {
    fx = await start('command');
    const id = await fx.submit({ repo: DEMO_REPO, prompt: 'report a cost' });
    await tokenOf(fx, id);
    await recordSpend(fx.redis, fx.keys, { taskId: id, team: DEFAULT_TEAM, usd: 0.3, at: new Date() });
    expect(await teamCostOfDay(fx.redis, fx.keys, DEFAULT_TEAM, new Date())).toBeCloseTo(0.3, 9);
    // the agent's own report is higher (a call the gateway did not see)
    await go(fx, id, 'cost:0.5');
    const record = await fx.waitFinal(id, 20_000);
    expect(record.state, JSON.stringify(record.error)).toBe('succeeded');
    expect(record.costUsd).toBeCloseTo(0.5, 9);
    expect(await taskSpend(fx.redis, fx.keys, id)).toBeCloseTo(0.3, 9);
    expect(await teamCostOfDay(fx.redis, fx.keys, DEFAULT_TEAM, new Date())).toBeCloseTo(0.5, 9);
  });
});
