import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DEMO_REPO, DEFAULT_TEAM, branchName, teamCostOfDay } from '@agentq/shared';
import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isGroupAlive } from '../src/providers/local/process-group.js';
import { enqueueTask } from './support/enqueue.js';
import { FakeAnthropic, text, toolUse } from '@agentq/shared/testing';
import { startDispatcherFixture, type DispatcherFixture } from './support/dispatcher-fixture.js';

const CLAUDE_BIN = resolve(import.meta.dirname, '../../../node_modules/.bin/claude');

describe('spending limits', () => {
  let testRedis: TestRedis;
  let fake: FakeAnthropic;
  let fx: DispatcherFixture | undefined;

  beforeAll(async () => {
    testRedis = await startTestRedis();
    fake = await FakeAnthropic.start({ prefix: '/llm/anthropic' });
  });
  afterAll(async () => {
    await fake?.close();
    await testRedis?.stop();
  });
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  const start = () =>
    startDispatcherFixture(testRedis.url, {
      AGENTQ_HARNESS: 'claude-code',
      AGENTQ_CLAUDE_BIN: CLAUDE_BIN,
      // the gateway serves Anthropic at <url>/llm/anthropic: the fake stands in for it
      ANTHROPIC_API_KEY: 'sk-ant-budget-5e1f0c2b9a7d4e36',
      AGENTQ_GATEWAY_URL: fake.url,
    });

  const script = () =>
    fake.script([
      ({ cwd }) => ({
        content: [text('Adding notes.'), toolUse('Write', { file_path: join(cwd ?? '/nonexistent', 'NOTES.md'), content: 'notes\n' })],
      }),
      { content: [text('Added NOTES.md.')] },
    ]);

  it('stops the sandbox of a task whose reported cost passes its limit and fails it with the reason', async () => {
    fx = await start();
    // a push that never completes: the run is still going when the cost is reported
    const hook = join(fx.forge.path(DEMO_REPO), 'hooks', 'pre-receive');
    await writeFile(hook, '#!/bin/sh\nsleep 120\n');
    await chmod(hook, 0o755);
    script();
    const prompt = 'add NOTES.md';
    const id = await fx.submit({ repo: DEMO_REPO, prompt, harness: 'claude-code', limits: { maxCostUsd: 0.000001 } });

    const record = await fx.waitFinal(id, 45_000);
    expect(record.state, JSON.stringify(record.error)).toBe('failed');
    expect(record.error?.code).toBe('DISPATCH_BUDGET_EXCEEDED');
    expect(record.error?.message).toContain('$0.00000100');
    expect(record.costUsd).toBeGreaterThan(0.000001);
    expect(record.error?.message).toContain(String(record.costUsd?.toPrecision(3)));
    expect(await fx.forge.branchCommit(DEMO_REPO, branchName(id, prompt))).toBeUndefined();

    const meta = JSON.parse(await readFile(join(fx.dataDir, 'sandboxes', record.sandboxId ?? '', 'sandbox.json'), 'utf8')) as { pgid?: number };
    expect(meta.pgid).toBeGreaterThan(1);
    expect(isGroupAlive(meta.pgid ?? 0)).toBe(false);
    const events = await fx.events(id);
    expect(events.some((e) => e.kind === 'agent.result')).toBe(true);
    expect(events.at(-1)).toMatchObject({ kind: 'task.state', state: 'failed' });
    // what the task cost counts against its team's day
    expect(await teamCostOfDay(fx.redis, fx.keys, DEFAULT_TEAM, new Date())).toBeCloseTo(record.costUsd ?? 0, 9);
  });

  it('adds the cost of every finished task to its team of the day', async () => {
    fx = await start();
    script();
    const first = await fx.submit({ repo: DEMO_REPO, prompt: 'add NOTES.md', harness: 'claude-code', limits: { maxCostUsd: 5 } });
    const a = await fx.waitFinal(first, 45_000);
    expect(a.state, JSON.stringify(a.error)).toBe('succeeded');
    script();
    const { redis, keys, store, queue } = fx;
    const second = await enqueueTask({ redis, keys, store, queue }, { repo: DEMO_REPO, prompt: 'add NOTES.md again' }, { team: 'platform' });
    const b = await fx.waitFinal(second, 45_000);
    expect(b.state, JSON.stringify(b.error)).toBe('succeeded');
    expect(a.costUsd).toBeGreaterThan(0);
    expect(b.costUsd).toBeGreaterThan(0);
    expect(await teamCostOfDay(fx.redis, fx.keys, DEFAULT_TEAM, new Date())).toBeCloseTo(a.costUsd ?? 0, 9);
    expect(await teamCostOfDay(fx.redis, fx.keys, 'platform', new Date())).toBeCloseTo(b.costUsd ?? 0, 9);
    const key = fx.keys.teamCost(DEFAULT_TEAM, new Date().toISOString().slice(0, 10));
    const ttl = await fx.redis.ttl(key);
    expect(ttl).toBeGreaterThan(24 * 3600);
    expect(ttl).toBeLessThanOrEqual(4 * 24 * 3600);
  });
});
