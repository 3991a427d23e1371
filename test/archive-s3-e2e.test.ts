import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, openTranscriptArchive, redisKeys, type AgentEvent, type TaskRecord, type TranscriptArchive } from '@agentq/shared';
import { startTestS3, uniquePrefix, waitFor, type TestS3 } from '@agentq/shared/testing';
import { startStack, type Stack } from './support/stack.js';

describe('the three services on an S3 archive (s3rver)', () => {
  let s3: TestS3;
  let stack: Stack;
  let archive: TranscriptArchive;

  beforeAll(async () => {
    s3 = await startTestS3();
    const env = s3.env(uniquePrefix('e2e'));
    stack = await startStack(env);
    archive = openTranscriptArchive(loadConfig(env));
  }, 60_000);
  afterAll(async () => {
    archive?.close?.();
    await stack?.stop();
    await s3?.remove();
  });

  it('archives a demo task in the bucket and serves it from there once Redis no longer holds it', async () => {
    const res = await stack.api('/v1/tasks', { method: 'POST', body: JSON.stringify({ repo: 'demo/hello', prompt: 'add a CONTRIBUTING.md' }) });
    expect(res.status).toBe(202);
    const { id, viewerUrl } = (await res.json()) as { id: string; viewerUrl: string };
    const task = await waitFor(async () => ((await archive.readTask(id))?.state === 'succeeded' ? archive.readTask(id) : undefined), {
      timeoutMs: 45_000,
      intervalMs: 200,
      what: 'task.json in the bucket',
    });
    const stored = await archive.readEvents(id);
    expect(stored.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));
    expect(stored.length).toBe(task?.lastSeq);
    expect(stored[stored.length - 1]).toMatchObject({ kind: 'task.state', state: 'succeeded' });

    // the stream's TTL (AGENTQ_EVENTS_TTL_SEC) passed, and the record is gone too
    const keys = redisKeys(stack.env.AGENTQ_REDIS_PREFIX as string);
    const redis = new Redis(stack.env.REDIS_URL as string);
    try {
      // set once task.json is written, a moment after it appears
      await waitFor(async () => (await redis.ttl(keys.events(id))) > 0, { timeoutMs: 5000, what: 'a TTL on the event stream' });
      await redis.del(keys.events(id), keys.task(id));
    } finally {
      redis.disconnect();
    }

    const jsonl = await stack.api(`/v1/tasks/${id}/events?format=jsonl`);
    expect(jsonl.status).toBe(200);
    const lines = (await jsonl.text()).trimEnd().split('\n').map((l) => JSON.parse(l) as AgentEvent);
    expect(lines).toEqual(stored);
    const sse = await stack.api(`/v1/tasks/${id}/events`, { headers: { 'last-event-id': String(stored.length - 2) } });
    expect(sse.status).toBe(200);
    expect((await sse.text()).match(/^id: \d+$/gm)).toEqual([`id: ${stored.length - 1}`, `id: ${stored.length}`]);
    expect(((await (await stack.api(`/v1/tasks/${id}`)).json()) as TaskRecord).state).toBe('succeeded');
    const page = await fetch(viewerUrl.replace(/^https?:\/\/[^/]+/, stack.url));
    expect(page.status).toBe(200);

    // nothing of the transcript touched the shared data directory
    expect(existsSync(join(stack.dataDir, 'transcripts'))).toBe(false);
  });
});
