import { request as httpRequest, type IncomingMessage } from 'node:http';
import { viewerKey, type AgentEventInput } from '@agentq/shared';
import { waitFor } from '@agentq/shared/testing';
import { describe, expect, it } from 'vitest';
import { ALPHA_TOKEN, VIEWER_SECRET, auth, type IngressFixture } from './ingress-fixture.js';
import type { SseClient } from './sse-client.js';
import { sseHarness } from './sse-harness.js';

const { setup, stop, open, runningTask } = sseHarness();

const message = (i: number): AgentEventInput => ({ kind: 'agent.message', text: `message ${i}` });
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Client connections of the test's Redis (`CLIENT LIST`). */
async function redisConnections(f: IngressFixture): Promise<number> {
  const list = (await f.redis.client('LIST')) as string;
  return list.trim().split('\n').length;
}

describe('live streams share one read per task', () => {
  it('sends every event once and in order to many clients of several tasks, over a fixed number of Redis connections', async () => {
    const { fx: f, base } = await setup();
    const tasks = [await runningTask(f), await runningTask(f), await runningTask(f)];
    const before = await redisConnections(f);
    const byTask = await Promise.all(tasks.map(async (id) => Promise.all(range(1, 20).map(() => open(`${base}/v1/tasks/${id}/events`)))));
    await waitFor(() => byTask.flat().every((c) => c.events.length === 3), { what: 'every replay' });
    for (let i = 0; i < 30; i++) await Promise.all(tasks.map((id) => f.store.append(id, [message(i)])));
    await Promise.all(tasks.map((id) => f.store.transition(id, 'succeeded')));
    await Promise.all(byTask.flat().map((c) => c.finished()));
    for (const [i, id] of tasks.entries()) {
      for (const client of byTask[i] ?? []) {
        expect(client.events.map((e) => e.seq)).toEqual(range(1, 34));
        expect(client.events.every((e) => e.taskId === id)).toBe(true);
      }
    }
    // 60 streams of 3 tasks: the default 2 shared connections, not one per stream
    expect(f.blockingClients.length).toBeLessThanOrEqual(2);
    expect(await redisConnections(f)).toBeLessThanOrEqual(before + 2);
  });

  it('gives late joiners and Last-Event-ID resumes no gap and no duplicate while events keep coming', async () => {
    const { fx: f, base } = await setup();
    const id = await runningTask(f);
    const first = await open(`${base}/v1/tasks/${id}/events`);
    let written = 3;
    let stop = false;
    const writer = (async () => {
      while (!stop) {
        await f.store.append(id, [message(written), message(written + 1)]);
        written += 2;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    const late: SseClient[] = [];
    for (let i = 0; i < 12; i++) {
      await waitFor(() => written > 20 + i * 15, { what: 'more events' });
      const resumeAt = Math.floor(written / 2) + i;
      late.push(await open(`${base}/v1/tasks/${id}/events`, i % 2 === 0 ? auth() : { ...auth(), 'last-event-id': String(resumeAt) }));
    }
    stop = true;
    await writer;
    await f.store.transition(id, 'succeeded');
    const all = [first, ...late];
    await Promise.all(all.map((c) => c.finished()));
    const last = written + 1;
    expect(first.events.map((e) => e.seq)).toEqual(range(1, last));
    for (const [i, client] of late.entries()) {
      const from = Number(client.messages[0]?.id);
      expect(client.events.map((e) => e.seq)).toEqual(range(from, last));
      if (i % 2 === 0) expect(from).toBe(1);
      else expect(from).toBeGreaterThan(1);
    }
  });

  it('ends every stream of a task at its final event and stops reading the task', async () => {
    const { fx: f, base } = await setup();
    const id = await runningTask(f);
    const other = await runningTask(f);
    const streams = await Promise.all(range(1, 5).map(() => open(`${base}/v1/tasks/${id}/events`)));
    const bystander = await open(`${base}/v1/tasks/${other}/events`);
    await waitFor(() => [...streams, bystander].every((c) => c.events.length === 3), { what: 'the replays' });
    await f.store.transition(id, 'canceled');
    await Promise.all(streams.map((c) => c.finished()));
    expect(streams.every((c) => c.events.at(-1)?.kind === 'task.state')).toBe(true);
    expect(bystander.ended).toBe(false);
    await f.store.append(other, [message(1)]);
    await waitFor(() => bystander.events.length === 4, { what: 'the other task to go on' });
  });

  it('disconnects a client that stops reading without holding up the others', async () => {
    const { fx: f, base } = await setup({ env: { AGENTQ_SSE_CLIENT_BUFFER: '10' } });
    const id = await runningTask(f);
    const fast = await open(`${base}/v1/tasks/${id}/events`);
    const slow = await rawStream(`${base}/v1/tasks/${id}/events`, auth());
    slow.response.pause();
    await waitFor(() => fast.events.length === 3, { what: 'the replay' });
    // more than the socket buffers of both ends take on loopback
    const big = 'x'.repeat(128 * 1024);
    for (let i = 0; i < 300; i++) await f.store.append(id, [{ kind: 'agent.message', text: `${i} ${big}` }]);
    await f.store.transition(id, 'succeeded');
    await fast.finished();
    expect(fast.events.map((e) => e.seq)).toEqual(range(1, 304));
    await waitFor(async () => /^agentq_sse_streams_too_slow_total\{service="ingress"\} 1$/m.test(await f.metricsText()), {
      what: 'the slow client to be disconnected',
    });
    // reading again, the slow client finds its stream cut short: it reconnects with Last-Event-ID
    let received = '';
    slow.response.setEncoding('utf8');
    slow.response.on('data', (chunk: string) => (received += chunk.slice(0, 64)));
    slow.response.resume();
    await waitFor(() => slow.closed, { what: 'the slow client to see the end' });
    expect(received).toContain('id: 1\n');
    expect(received).not.toContain('id: 304\n');
  });

  it('ends every stream and the shared reads when the app closes', async () => {
    const { fx: f, base } = await setup();
    const tasks = [await runningTask(f), await runningTask(f)];
    const all = await Promise.all(tasks.flatMap((id) => range(1, 4).map(() => open(`${base}/v1/tasks/${id}/events`))));
    await waitFor(() => all.every((c) => c.events.length === 3), { what: 'the replays' });
    await f.app.close();
    await Promise.all(all.map((c) => c.finished()));
    await waitFor(() => f.blockingClients.every((c) => c.status === 'end'), { what: 'the shared connections to close' });
  });
});

describe('caps on open streams', () => {
  async function expectRefused(url: string, headers: Record<string, string>, cap: string): Promise<void> {
    const res = await fetch(url, { headers });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('10');
    const body = (await res.json()) as { error: { code: string; details: { cap: string } } };
    expect(body.error.code).toBe('INGRESS_TOO_MANY_STREAMS');
    expect(body.error.details.cap).toBe(cap);
  }

  async function expectFreed(f: IngressFixture, url: string, headers: Record<string, string>, held: SseClient): Promise<void> {
    held.close();
    await waitFor(async () => {
      const client = await open(url, headers);
      if (client.status !== 200) client.close();
      return client.status === 200;
    }, { what: 'the count to be freed' });
    const metrics = await f.metricsText();
    expect(metrics).toMatch(/^agentq_sse_streams_refused_total\{cap="[a-z_]+",service="ingress"\} [1-9]/m);
  }

  it('refuses a viewer link\'s stream beyond its cap with 429 and Retry-After, and counts it free again once one closes', async () => {
    const { fx: f, base } = await setup({ env: { AGENTQ_SSE_MAX_STREAMS_PER_VIEWER_KEY: '2' } });
    const id = await runningTask(f);
    const url = `${base}/v1/tasks/${id}/events?key=${viewerKey(VIEWER_SECRET, id)}`;
    const held = [await open(url, {}), await open(url, {})];
    expect(held.map((c) => c.status)).toEqual([200, 200]);
    await expectRefused(url, {}, 'viewer_key');
    // a token is counted apart from the viewer link
    expect((await open(`${base}/v1/tasks/${id}/events`)).status).toBe(200);
    await expectFreed(f, url, {}, held[0] as SseClient);
  });

  it('caps the streams of one team, leaving other teams theirs', async () => {
    const { fx: f, base } = await setup({ env: { AGENTQ_SSE_MAX_STREAMS_PER_TEAM: '2' } });
    const id = await runningTask(f, ALPHA_TOKEN);
    const url = `${base}/v1/tasks/${id}/events`;
    const held = [await open(url, auth(ALPHA_TOKEN)), await open(url, auth(ALPHA_TOKEN))];
    await expectRefused(url, auth(ALPHA_TOKEN), 'team');
    expect((await open(url, auth())).status).toBe(200);
    await expectFreed(f, url, auth(ALPHA_TOKEN), held[1] as SseClient);
  });

  it('caps the streams of one client address, and the total', async () => {
    const { fx: f, base } = await setup({ env: { AGENTQ_SSE_MAX_STREAMS_PER_ADDRESS: '2' } });
    const id = await runningTask(f);
    const url = `${base}/v1/tasks/${id}/events`;
    const held = [await open(url), await open(url)];
    expect(held.map((c) => c.status)).toEqual([200, 200]);
    await expectRefused(url, auth(), 'address');
    await expectFreed(f, url, auth(), held[0] as SseClient);
    await stop(f);

    const total = await setup({ env: { AGENTQ_SSE_MAX_STREAMS: '1' } });
    const task = await runningTask(total.fx);
    const totalUrl = `${total.base}/v1/tasks/${task}/events`;
    const one = await open(totalUrl);
    expect(one.status).toBe(200);
    await expectRefused(totalUrl, auth(), 'total');
    await expectFreed(total.fx, totalUrl, auth(), one);
  });
});

/** An SSE response read (or not) by hand: the test pauses it to play a client that stops reading. */
async function rawStream(url: string, headers: Record<string, string>): Promise<{ response: IncomingMessage; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (response) => {
      const state = { response, closed: false };
      // paused, the response itself does not see the end: its socket does
      response.socket.on('close', () => (state.closed = true));
      response.on('error', () => (state.closed = true));
      resolve(state);
    });
    req.on('error', reject);
    req.end();
  });
}
