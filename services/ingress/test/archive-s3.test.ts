import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { viewerKey, type AgentEventInput } from '@agentq/shared';
import { startTestRedis, startTestS3, uniquePrefix, type TestRedis, type TestS3 } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VIEWER_SECRET, auth, startIngress, taskBody, type IngressFixture } from './ingress-fixture.js';
import { SseClient } from './sse-client.js';

let redis: TestRedis;
let s3: TestS3;
let fx: IngressFixture | undefined;
const clients: SseClient[] = [];

beforeAll(async () => {
  [redis, s3] = await Promise.all([startTestRedis(), startTestS3()]);
});
afterAll(async () => {
  await Promise.all([redis.stop(), s3.remove()]);
});
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await s3.restart();
  await fx?.close();
  fx = undefined;
});

const work: AgentEventInput[] = [
  { kind: 'agent.message', text: 'looking around' },
  { kind: 'agent.tool_call', name: 'Bash', input: { command: 'ls' } },
  { kind: 'agent.tool_result', ok: true, output: 'README.md' },
  { kind: 'agent.message', text: 'done' },
];

/** An ingress whose archive is the S3 bucket, with a finished task archived as the relay does it and its Redis stream and record gone. */
async function archivedTask(): Promise<{ f: IngressFixture; base: string; id: string; events: Awaited<ReturnType<IngressFixture['store']['readEvents']>> }> {
  const f = await startIngress(redis.url, { env: s3.env(uniquePrefix('ing')) });
  fx = f;
  const base = await f.listen();
  const res = await f.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody() });
  const id = res.json().id as string;
  await f.store.transition(id, 'starting');
  await f.store.transition(id, 'running');
  await f.store.append(id, work);
  await f.store.transition(id, 'succeeded', { summary: 'done' });
  const events = await f.store.readEvents(id);
  // in chunks, overlapping, as relays write them; then consolidated at the end
  await f.archive.append(id, events.slice(0, 5));
  f.archive.forget?.(id);
  await f.archive.append(id, events.slice(3));
  await f.archive.writeTask(await f.store.require(id));
  // AGENTQ_EVENTS_TTL_SEC passed: the stream is gone, and here the record too
  await f.redis.del(f.keys.events(id), f.keys.task(id));
  return { f, base, id, events };
}

async function open(url: string, headers: Record<string, string> = auth()): Promise<SseClient> {
  const client = await SseClient.open(url, headers);
  clients.push(client);
  return client;
}

describe('a finished task read from an S3 archive after its Redis stream expired', () => {
  it('serves SSE (also resumed), JSONL, the record and the viewer from the bucket, nothing from local disk', async () => {
    const { f, base, id, events } = await archivedTask();
    expect(events).toHaveLength(8);

    const client = await open(`${base}/v1/tasks/${id}/events`);
    await client.finished();
    expect(client.status).toBe(200);
    expect(client.events).toEqual(events);
    const resumed = await open(`${base}/v1/tasks/${id}/events`, { ...auth(), 'last-event-id': '6' });
    await resumed.finished();
    expect(resumed.events.map((e) => e.seq)).toEqual([7, 8]);
    const done = await f.app.inject({ method: 'GET', url: `/v1/tasks/${id}/events`, headers: { ...auth(), 'last-event-id': '8' } });
    expect(done.statusCode).toBe(204);

    const jsonl = await f.app.inject({ method: 'GET', url: `/v1/tasks/${id}/events?format=jsonl`, headers: auth() });
    expect(jsonl.statusCode).toBe(200);
    expect(jsonl.body.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual(events);

    const record = await f.app.inject({ method: 'GET', url: `/v1/tasks/${id}`, headers: auth() });
    expect(record.json()).toMatchObject({ id, state: 'succeeded', summary: 'done', lastSeq: 8 });

    const key = viewerKey(VIEWER_SECRET, id);
    const page = await f.app.inject({ method: 'GET', url: `/tasks/${id}?key=${key}` });
    expect(page.statusCode).toBe(200);
    const viewer = await open(`${base}/v1/tasks/${id}/events?key=${key}`, {});
    await viewer.finished();
    expect(viewer.events).toEqual(events);

    expect(existsSync(join(f.dataDir, 'transcripts'))).toBe(false);
  });

  it('answers 503 INGRESS_ARCHIVE_UNAVAILABLE with Retry-After while the store is down, and 404 for a task it does not hold', async () => {
    const { f, id } = await archivedTask();
    const unknown = await f.app.inject({ method: 'GET', url: '/v1/tasks/01jd3k8m2xq4v7c9e5h6t0r2ab', headers: auth() });
    expect(unknown.statusCode).toBe(404);
    await s3.stop();
    for (const url of [`/v1/tasks/${id}/events?format=jsonl`, `/v1/tasks/${id}`]) {
      const res = await f.app.inject({ method: 'GET', url, headers: auth() });
      expect(res.statusCode, url).toBe(503);
      expect(res.headers['retry-after']).toBeDefined();
      expect(res.json().error.code).toBe('INGRESS_ARCHIVE_UNAVAILABLE');
    }
    const page = await f.app.inject({ method: 'GET', url: `/tasks/${id}?key=${viewerKey(VIEWER_SECRET, id)}` });
    expect(page.statusCode).toBe(503);
    await s3.restart();
    const back = await f.app.inject({ method: 'GET', url: `/v1/tasks/${id}/events?format=jsonl`, headers: auth() });
    expect(back.statusCode).toBe(200);
  });
});
