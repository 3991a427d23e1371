import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsTranscriptArchive, LocalForge, git, redisKeys, type AgentEvent, type TaskRecord } from '@agentq/shared';
import { waitFor } from '@agentq/shared/testing';
import { startStack, type Stack } from './support/stack.js';

const SECRET = 'sk-e2e-9f8e7d6c5b4a3210-do-not-leak';

/** Parses an SSE body into (id, data) pairs. */
function parseSse(text: string): { id: number; event: AgentEvent }[] {
  const out: { id: number; event: AgentEvent }[] = [];
  for (const block of text.split('\n\n')) {
    let id: number | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('id:')) id = Number(line.slice(3).trim());
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
    }
    if (id !== undefined && data.length > 0) out.push({ id, event: JSON.parse(data.join('\n')) as AgentEvent });
  }
  return out;
}

async function waitForFinal(stack: Stack, id: string, timeoutMs = 45_000): Promise<TaskRecord> {
  return waitFor(
    async () => {
      const res = await stack.api(`/v1/tasks/${id}`);
      const task = (await res.json()) as TaskRecord;
      return ['succeeded', 'failed', 'canceled', 'timed_out'].includes(task.state) ? task : undefined;
    },
    { timeoutMs, intervalMs: 100, what: `task ${id} to finish` },
  );
}

describe('the pipeline, three services as processes', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ AGENTQ_E2E_SECRET: SECRET, AGENTQ_SANDBOX_ENV: 'AGENTQ_E2E_SECRET' });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it('turns a request into a pushed branch, a stored transcript and a resumable event stream', async () => {
    const res = await stack.api('/v1/tasks', {
      method: 'POST',
      body: JSON.stringify({ repo: 'demo/hello', prompt: 'add a CONTRIBUTING.md' }),
    });
    expect(res.status).toBe(202);
    const created = (await res.json()) as { id: string; viewerUrl: string; statusUrl: string };

    const task = await waitForFinal(stack, created.id);
    expect(task.state).toBe('succeeded');
    expect(task.branch).toMatch(/^agentq\/[0-9a-z]{8}-add-a-contributing-md$/);
    expect(task.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(task.diffStat?.files).toBeGreaterThanOrEqual(1);

    // the branch with the commit is in the forge, and holds the file
    const forge = new LocalForge(stack.dataDir);
    expect(await forge.branchCommit('demo/hello', task.branch as string)).toBe(task.commit);
    const { stdout } = await git(['show', `${task.branch}:CONTRIBUTING.md`], { cwd: forge.path('demo/hello') });
    expect(stdout.length).toBeGreaterThan(20);

    // the transcript is in storage, complete, with contiguous seq and the final record
    const archive = FsTranscriptArchive.forDataDir(stack.dataDir);
    const stored = await waitFor(async () => ((await archive.readTask(created.id))?.state === 'succeeded' ? archive.readEvents(created.id) : undefined), {
      timeoutMs: 20_000,
      what: 'task.json in storage',
    });
    expect(stored.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));
    expect(stored.at(-1)).toMatchObject({ kind: 'task.state', state: 'succeeded' });
    expect(stored.some((e) => e.kind === 'agent.tool_call')).toBe(true);
    expect(stored.some((e) => e.kind === 'git' && e.action === 'push')).toBe(true);

    // SSE replays everything, and resumes after Last-Event-ID
    const all = parseSse(await (await stack.api(`/v1/tasks/${created.id}/events`, { headers: { accept: 'text/event-stream' } })).text());
    expect(all.map((e) => e.id)).toEqual(stored.map((e) => e.seq));
    const resumeAt = Math.floor(all.length / 2);
    const rest = parseSse(
      await (await stack.api(`/v1/tasks/${created.id}/events`, { headers: { accept: 'text/event-stream', 'last-event-id': String(resumeAt) } })).text(),
    );
    expect(rest.map((e) => e.id)).toEqual(stored.filter((e) => e.seq > resumeAt).map((e) => e.seq));

    // the JSONL form returns the same transcript
    const jsonl = await (await stack.api(`/v1/tasks/${created.id}/events?format=jsonl`)).text();
    expect(jsonl.trim().split('\n').map((l) => (JSON.parse(l) as AgentEvent).seq)).toEqual(stored.map((e) => e.seq));
  });

  it('never lets a sandbox secret reach the transcript, Redis, the record or the logs', async () => {
    const res = await stack.api('/v1/tasks', {
      method: 'POST',
      body: JSON.stringify({ repo: 'demo/hello', prompt: 'print the environment, then add a CONTRIBUTING.md' }),
    });
    const { id } = (await res.json()) as { id: string };
    const task = await waitForFinal(stack, id);
    const archive = FsTranscriptArchive.forDataDir(stack.dataDir);
    await waitFor(async () => (await archive.readTask(id)) !== undefined, { timeoutMs: 20_000, what: 'task.json' });

    const transcript = await readFile(archive.eventsPath(id), 'utf8');
    expect(transcript).toContain('[REDACTED]');
    expect(transcript).not.toContain(SECRET);
    expect(await readFile(archive.taskPath(id), 'utf8')).not.toContain(SECRET);
    expect(JSON.stringify(task)).not.toContain(SECRET);

    const redis = new Redis(stack.env.REDIS_URL as string);
    try {
      const keys = redisKeys(stack.env.AGENTQ_REDIS_PREFIX);
      const stream = JSON.stringify(await redis.xrange(keys.events(id), '-', '+'));
      const record = JSON.stringify(await redis.hgetall(keys.task(id)));
      expect(stream + record).not.toContain(SECRET);
      // nothing anywhere in Redis holds it
      const allKeys = await redis.keys('*');
      for (const key of allKeys) {
        const type = await redis.type(key);
        const dump = type === 'string' ? await redis.get(key) : type === 'hash' ? JSON.stringify(await redis.hgetall(key)) : type === 'stream' ? JSON.stringify(await redis.xrange(key, '-', '+')) : '';
        expect(dump ?? '').not.toContain(SECRET);
      }
    } finally {
      redis.disconnect();
    }
    expect(stack.logs().length).toBeGreaterThan(0);
    expect(stack.logs()).not.toContain(SECRET);
    expect(await readFile(join(stack.dataDir, 'transcripts', id, 'events.jsonl'), 'utf8')).not.toContain(SECRET);
  });
});
