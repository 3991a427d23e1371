import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSlashCommand } from '../src/slack/command-text.js';
import { auth, startIngress, taskBody } from './ingress-fixture.js';

describe('choosing the codex and command harnesses', () => {
  let redis: TestRedis;

  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('accepts harness codex and command on POST /v1/tasks and records them on the task', async () => {
    const fx = await startIngress(redis.url);
    try {
      for (const harness of ['command', 'codex']) {
        const res = await fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody({ harness }) });
        expect(res.statusCode, res.body).toBe(202);
        expect(await fx.store.require(res.json<{ id: string }>().id)).toMatchObject({ harness, state: 'queued' });
      }
      const bad = await fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody({ harness: 'shell' }) });
      expect(bad.statusCode).toBe(400);
    } finally {
      await fx.close();
    }
  });

  it('reads --harness=command and --harness codex in Slack text, and lists them when the name is wrong', () => {
    expect(parseSlashCommand('acme/api fix it --harness=command')).toMatchObject({ kind: 'task', options: { harness: 'command' } });
    expect(parseSlashCommand('acme/api --harness codex fix it')).toMatchObject({ kind: 'task', prompt: 'fix it', options: { harness: 'codex' } });
    expect(parseSlashCommand('acme/api fix it --harness=shell')).toMatchObject({ kind: 'invalid', problem: expect.stringContaining('claude-code, codex, command, demo') });
  });
});
