import { viewerKey, type AgentEventInput } from '@agentq/shared';
import { waitFor } from '@agentq/shared/testing';
import { describe, expect, it } from 'vitest';
import { ALPHA_TOKEN, BETA_TOKEN, VIEWER_SECRET, auth, type IngressFixture } from './ingress-fixture.js';
import { sseHarness } from './sse-harness.js';

const { setup, open, runningTask } = sseHarness();

const work: AgentEventInput[] = [
  { kind: 'step', step: 'agent' },
  { kind: 'agent.message', text: 'Looking at the repository.' },
  { kind: 'agent.tool_call', id: 't1', name: 'Bash', input: { command: 'ls' } },
  { kind: 'agent.tool_result', id: 't1', ok: true, output: 'README.md\nhello.js' },
];

/** The gauges of open streams and of tasks read live, from `/metrics`. */
async function streamGauges(f: IngressFixture): Promise<{ open: number; followed: number }> {
  const body = await f.metricsText();
  const read = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, 'm').exec(body)?.[1] ?? NaN);
  return { open: read('agentq_sse_streams_open'), followed: read('agentq_sse_tasks_followed') };
}

async function finishedTask(f: IngressFixture): Promise<string> {
  const id = await runningTask(f);
  await f.store.append(id, work);
  await f.store.transition(id, 'succeeded', { summary: 'done' });
  return id;
}

describe('GET /v1/tasks/:id/events (SSE)', () => {
  it('replays every event with id = seq and ends after the final state', async () => {
    const { fx: f, base } = await setup();
    const id = await finishedTask(f);
    const client = await open(`${base}/v1/tasks/${id}/events`);
    await client.finished();
    expect(client.status).toBe(200);
    expect(client.contentType).toMatch(/^text\/event-stream/);
    expect(client.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(client.messages.map((m) => m.id)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
    expect(client.messages.every((m) => m.event === undefined)).toBe(true);
    expect(client.events[7]).toMatchObject({ kind: 'task.state', state: 'succeeded', from: 'running' });
    expect(client.events[4]).toMatchObject({ kind: 'agent.message', text: 'Looking at the repository.', taskId: id });
    const metrics = await f.metricsText();
    expect(metrics).toMatch(/agentq_http_requests_total\{method="GET",route="\/v1\/tasks\/:id\/events",status="200",service="ingress"\} 1/);
  });

  it('resumes after Last-Event-ID (or ?after=) with only the later events', async () => {
    const { fx: f, base } = await setup();
    const id = await finishedTask(f);
    const byHeader = await open(`${base}/v1/tasks/${id}/events`, { ...auth(), 'last-event-id': '5' });
    await byHeader.finished();
    expect(byHeader.events.map((e) => e.seq)).toEqual([6, 7, 8]);
    const byQuery = await open(`${base}/v1/tasks/${id}/events?after=6`);
    await byQuery.finished();
    expect(byQuery.events.map((e) => e.seq)).toEqual([7, 8]);
    const bad = await f.app.inject({ method: 'GET', url: `/v1/tasks/${id}/events?after=x`, headers: auth() });
    expect(bad.statusCode).toBe(400);
  });

  it('answers 204 when a finished task has nothing after Last-Event-ID, so EventSource stops', async () => {
    const { fx: f, base } = await setup();
    const id = await finishedTask(f);
    const client = await open(`${base}/v1/tasks/${id}/events`, { ...auth(), 'last-event-id': '8' });
    await client.finished();
    expect(client.status).toBe(204);
    expect(client.events).toEqual([]);
  });

  it('follows live events until the final state, then stops reading the task', async () => {
    const { fx: f, base } = await setup();
    const id = await runningTask(f);
    const client = await open(`${base}/v1/tasks/${id}/events`);
    await waitFor(() => client.events.length === 3, { what: 'the replay' });
    expect(client.ended).toBe(false);
    await f.store.append(id, work.slice(0, 2));
    await waitFor(() => client.events.length === 5, { what: 'the first live events' });
    await f.store.append(id, work.slice(2));
    await f.store.transition(id, 'succeeded');
    await client.finished();
    expect(client.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(client.events[7]).toMatchObject({ kind: 'task.state', state: 'succeeded' });
    expect(f.blockingClients).toHaveLength(1);
    await waitFor(async () => (await streamGauges(f)).followed === 0, { what: 'the task to be no longer read' });
  });

  it('stops reading the task when its last client goes away, and closes the shared connection with the app', async () => {
    const { fx: f, base } = await setup();
    const id = await runningTask(f);
    const client = await open(`${base}/v1/tasks/${id}/events`);
    await waitFor(() => client.events.length === 3 && f.blockingClients.length === 1, { what: 'the stream to follow' });
    expect(await streamGauges(f)).toEqual({ open: 1, followed: 1 });
    client.close();
    await waitFor(async () => (await streamGauges(f)).open === 0, { what: 'the stream to close' });
    expect(await streamGauges(f)).toEqual({ open: 0, followed: 0 });
    await f.app.close();
    await waitFor(() => f.blockingClients[0]?.status === 'end', { what: 'the blocking connection to close' });
  });

  it('sends heartbeat comments while nothing happens', async () => {
    const { fx: f, base } = await setup({ sseHeartbeatMs: 50 });
    const id = await runningTask(f);
    const client = await open(`${base}/v1/tasks/${id}/events`);
    await waitFor(() => client.comments.filter((c) => c === 'heartbeat').length >= 2, { what: 'heartbeats' });
    expect(client.ended).toBe(false);
  });

  it('ends open streams when the app closes', async () => {
    const { fx: f, base } = await setup();
    const id = await runningTask(f);
    const client = await open(`${base}/v1/tasks/${id}/events`);
    await waitFor(() => client.events.length === 3, { what: 'the replay' });
    const closing = f.app.close();
    await client.finished();
    await closing;
    expect(client.ended).toBe(true);
  });

  it('returns the transcript so far as NDJSON with ?format=jsonl', async () => {
    const { fx: f } = await setup();
    const id = await runningTask(f);
    await f.store.append(id, work);
    const res = await f.app.inject({ method: 'GET', url: `/v1/tasks/${id}/events?format=jsonl`, headers: auth() });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const lines = res.body.trimEnd().split('\n').map((l) => JSON.parse(l) as { seq: number });
    expect(lines.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const later = await f.app.inject({ method: 'GET', url: `/v1/tasks/${id}/events?format=jsonl&after=5`, headers: auth() });
    expect(later.body.trimEnd().split('\n')).toHaveLength(2);
  });

  it('serves the archive once the Redis stream has expired', async () => {
    const { fx: f, base } = await setup();
    const id = await finishedTask(f);
    const events = await f.store.readEvents(id);
    await f.archive.append(id, events);
    await f.redis.del(f.keys.events(id));

    const client = await open(`${base}/v1/tasks/${id}/events`);
    await client.finished();
    expect(client.status).toBe(200);
    expect(client.events).toEqual(events);
    const resumed = await open(`${base}/v1/tasks/${id}/events`, { ...auth(), 'last-event-id': '6' });
    await resumed.finished();
    expect(resumed.events.map((e) => e.seq)).toEqual([7, 8]);
    const jsonl = await f.app.inject({ method: 'GET', url: `/v1/tasks/${id}/events?format=jsonl`, headers: auth() });
    expect(jsonl.body.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual(events);
  });

  it('accepts the viewer key instead of a token, and refuses a wrong one', async () => {
    const { fx: f, base } = await setup();
    const id = await finishedTask(f);
    const viewer = await open(`${base}/v1/tasks/${id}/events?key=${viewerKey(VIEWER_SECRET, id)}`, {});
    await viewer.finished();
    expect(viewer.status).toBe(200);
    expect(viewer.events).toHaveLength(8);

    const other = await finishedTask(f);
    const wrong = await f.app.inject({ method: 'GET', url: `/v1/tasks/${id}/events?key=${viewerKey(VIEWER_SECRET, other)}` });
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().error.code).toBe('INGRESS_FORBIDDEN');
    const none = await f.app.inject({ method: 'GET', url: `/v1/tasks/${id}/events` });
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe('INGRESS_UNAUTHORIZED');
  });

  it('keeps other teams out', async () => {
    const { fx: f } = await setup();
    const id = await runningTask(f, ALPHA_TOKEN);
    const res = await f.app.inject({ method: 'GET', url: `/v1/tasks/${id}/events?format=jsonl`, headers: auth(BETA_TOKEN) });
    expect(res.statusCode).toBe(404);
    const own = await f.app.inject({ method: 'GET', url: `/v1/tasks/${id}/events?format=jsonl`, headers: auth(ALPHA_TOKEN) });
    expect(own.statusCode).toBe(200);
  });
});
