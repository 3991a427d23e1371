import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { auth, startIngress, taskBody, type FixtureOptions, type IngressFixture } from './ingress-fixture.js';
import { SseClient } from './sse-client.js';

export interface SseHarness {
  /** An ingress on the file's Redis, listening on loopback; closed after the test. */
  setup(options?: FixtureOptions): Promise<{ fx: IngressFixture; base: string }>;
  /** Closes an ingress of this test before the test ends. */
  stop(fx: IngressFixture): Promise<void>;
  /** An SSE client (API token by default); closed after the test. */
  open(url: string, headers?: Record<string, string>): Promise<SseClient>;
  /** A task in state `running` (with the given API token). */
  runningTask(fx: IngressFixture, token?: string): Promise<string>;
}

/**
 * What the live event stream tests share: a private Redis for the test file, and the ingresses
 * and SSE clients each test opens, closed after it. Call once at the top of a test file.
 */
export function sseHarness(): SseHarness {
  let redis: TestRedis;
  const fixtures: IngressFixture[] = [];
  const clients: SseClient[] = [];

  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    for (const fx of fixtures.splice(0)) await fx.close();
  });

  return {
    setup: async (options = {}) => {
      const fx = await startIngress(redis.url, options);
      fixtures.push(fx);
      return { fx, base: await fx.listen() };
    },
    stop: async (fx) => {
      const at = fixtures.indexOf(fx);
      if (at >= 0) fixtures.splice(at, 1);
      await fx.close();
    },
    open: async (url, headers = auth()) => {
      const client = await SseClient.open(url, headers);
      clients.push(client);
      return client;
    },
    runningTask: async (fx, token) => {
      const res = await fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(token), payload: taskBody() });
      const id = res.json().id as string;
      await fx.store.transition(id, 'starting');
      await fx.store.transition(id, 'running');
      return id;
    },
  };
}
