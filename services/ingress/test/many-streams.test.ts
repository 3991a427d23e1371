import { performance } from 'node:perf_hooks';
import { SseCrowd, startTestRedis, waitFor, type TestRedis } from '@agentq/shared/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { auth, startIngress, taskBody, type IngressFixture } from './ingress-fixture.js';

// 10,000 open streams on one ingress: the server side needs 10,000 file descriptors (the
// crowd of clients runs in a process of its own); `ulimit -n` is 20,000 on the machines this
// runs on. The bounds are generous: this checks that nothing blocks or grows with the streams,
// the numbers themselves are in `npm run bench -- streams`.
const STREAMS = 10_000;
const TASKS = 4;
const BOUND_MS = 5_000;

let redis: TestRedis;
let fx: IngressFixture;
let crowd: SseCrowd | undefined;

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await crowd?.close();
  await fx?.close();
  await redis.stop();
});

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await work();
  return { ms: performance.now() - t0, value };
}

it(`keeps /readyz and POST /v1/tasks answering, and Redis connections few, under ${STREAMS} open streams`, { timeout: 300_000 }, async () => {
  fx = await startIngress(redis.url, {
    env: {
      // one client address and one token here: the caps are raised so that only the total counts
      AGENTQ_SSE_MAX_STREAMS: String(STREAMS),
      AGENTQ_SSE_MAX_STREAMS_PER_ADDRESS: String(STREAMS),
      AGENTQ_SSE_MAX_STREAMS_PER_TEAM: String(STREAMS),
      AGENTQ_BODY_LIMIT_BYTES: '65536',
    },
  });
  const base = await fx.listen();
  const tasks: string[] = [];
  for (let i = 0; i < TASKS; i++) {
    const res = await fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody() });
    const id = res.json().id as string;
    await fx.store.transition(id, 'starting');
    await fx.store.transition(id, 'running');
    tasks.push(id);
  }
  const connectionsBefore = ((await fx.redis.client('LIST')) as string).trim().split('\n').length;

  const opened = await SseCrowd.open({ base, paths: tasks.map((id) => `/v1/tasks/${id}/events`), count: STREAMS, headers: auth() });
  crowd = opened.crowd;
  expect(opened).toMatchObject({ opened: STREAMS, refused: 0 });

  const ready = await timed(() => fetch(`${base}/readyz`));
  expect(ready.value.status).toBe(200);
  expect(ready.ms).toBeLessThan(BOUND_MS);
  const post = await timed(() =>
    fetch(`${base}/v1/tasks`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify(taskBody()) }),
  );
  expect(post.value.status).toBe(202);
  expect(post.ms).toBeLessThan(BOUND_MS);

  // the shared live reads: a few connections, whatever the number of streams
  const connections = ((await fx.redis.client('LIST')) as string).trim().split('\n').length;
  expect(connections - connectionsBefore).toBeLessThanOrEqual(2);
  const metrics = await fx.metricsText();
  expect(metrics).toMatch(new RegExp(`^agentq_sse_streams_open\\{service="ingress"\\} ${STREAMS}$`, 'm'));

  // a 10,001st stream is refused
  const over = await fetch(`${base}/v1/tasks/${tasks[0]}/events`, { headers: auth() });
  expect(over.status).toBe(429);

  for (const id of tasks) await fx.store.append(id, [{ kind: 'agent.message', text: 'marker-after-the-crowd-joined' }]);
  expect(await crowd.expect('marker-after-the-crowd-joined')).toBe(STREAMS);

  await crowd.close();
  crowd = undefined;
  await waitFor(async () => /^agentq_sse_streams_open\{service="ingress"\} 0$/m.test(await fx.metricsText()), {
    what: 'every stream to be counted closed',
    timeoutMs: 30_000,
  });
});
