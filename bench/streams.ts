import { performance } from 'node:perf_hooks';
import { startTestRedis } from '@agentq/shared/testing';
import { auth, startIngress, taskBody } from '../services/ingress/test/ingress-fixture.js';
import { SseCrowd } from '../services/ingress/test/sse-crowd-client.js';
import { fmt, percentiles } from './stats.js';

export interface StreamsBenchOptions {
  /** Numbers of open streams to measure under, one after another. */
  levels: number[];
  tasks: number;
  /** Requests of each kind timed at each level, one after another. */
  samples: number;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

/**
 * An ingress (in this process, on a private Redis) under N open live streams of a few tasks (the
 * clients in a process of their own): latency of `/readyz` and `POST /v1/tasks`, the time for a
 * new event to reach every stream, the process's memory, and Redis's client connections.
 */
export async function benchStreams(options: StreamsBenchOptions): Promise<void> {
  const redis = await startTestRedis();
  const max = Math.max(...options.levels);
  const fx = await startIngress(redis.url, {
    env: { AGENTQ_SSE_MAX_STREAMS: String(max), AGENTQ_SSE_MAX_STREAMS_PER_ADDRESS: String(max), AGENTQ_SSE_MAX_STREAMS_PER_TEAM: String(max) },
  });
  try {
    const base = await fx.listen();
    const tasks: string[] = [];
    for (let i = 0; i < options.tasks; i++) {
      const id = (await fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody() })).json().id as string;
      await fx.store.transition(id, 'starting');
      await fx.store.transition(id, 'running');
      tasks.push(id);
    }
    console.log(`live streams: one ingress, ${options.tasks} tasks, ${options.samples} requests of each kind one after another at each level`);
    for (const level of options.levels) {
      const { crowd, opened } = level > 0 ? await SseCrowd.open({ base, paths: tasks.map((id) => `/v1/tasks/${id}/events`), count: level, headers: auth() }) : { crowd: undefined, opened: 0 };
      try {
        global.gc?.();
        const ready: number[] = [];
        const post: number[] = [];
        for (let i = 0; i < options.samples; i++) {
          let t0 = performance.now();
          const r = await fetch(`${base}/readyz`);
          await r.arrayBuffer();
          ready.push(performance.now() - t0);
          t0 = performance.now();
          const p = await fetch(`${base}/v1/tasks`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify(taskBody()) });
          await p.arrayBuffer();
          if (p.status !== 202) throw new Error(`POST /v1/tasks answered ${p.status}`);
          post.push(performance.now() - t0);
        }
        let fanout = NaN;
        if (crowd) {
          const marker = `bench-marker-${level}`;
          const t0 = performance.now();
          for (const id of tasks) await fx.store.append(id, [{ kind: 'agent.message', text: marker }]);
          const seen = await crowd.expect(marker);
          fanout = performance.now() - t0;
          if (seen !== level) throw new Error(`${level - seen} streams missed the new event`);
        }
        const memory = process.memoryUsage();
        const connections = ((await fx.redis.client('LIST')) as string).trim().split('\n').length;
        const r = percentiles(ready);
        const p = percentiles(post);
        console.log(`  ${String(opened).padStart(6)} streams: /readyz p50 ${fmt(r.p50)} p99 ${fmt(r.p99)} | POST p50 ${fmt(p.p50)} p99 ${fmt(p.p99)} | new event to all ${Number.isNaN(fanout) ? '—' : fmt(fanout)} | rss ${mb(memory.rss)} heap ${mb(memory.heapUsed)} | redis clients ${connections}`);
      } finally {
        await crowd?.close();
      }
    }
  } finally {
    await fx.close();
    await redis.stop();
  }
}
