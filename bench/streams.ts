import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { TaskStore, redisKeys } from '@agentq/shared';
import { SseCrowd } from '@agentq/shared/testing';
import { startStack } from '../test/support/stack.js';
import { fmt, percentiles } from './stats.js';

export interface StreamsBenchOptions {
  /** Numbers of open streams to measure under, one after another. */
  levels: number[];
  tasks: number;
  /** Requests of each kind timed at each level, one after another. */
  samples: number;
}

async function rssMb(pid: number | undefined): Promise<string> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
  return `${(kb / 1024).toFixed(0)} MB`;
}

/**
 * The ingress process (on a private Redis) under N open live streams of a few queued tasks
 * (the clients in a process of their own): latency of `/readyz` and `POST /v1/tasks`, the time
 * for a new event to reach every stream, the ingress's resident memory, Redis's client connections.
 */
export async function benchStreams(options: StreamsBenchOptions): Promise<void> {
  const max = String(Math.max(...options.levels));
  const stack = await startStack(
    { AGENTQ_LOG_LEVEL: 'warn', AGENTQ_SSE_MAX_STREAMS: max, AGENTQ_SSE_MAX_STREAMS_PER_ADDRESS: max, AGENTQ_SSE_MAX_STREAMS_PER_TEAM: max },
    ['ingress'],
  );
  const redis = new Redis(stack.env.REDIS_URL ?? '');
  try {
    const store = new TaskStore(redis, redisKeys(stack.env.AGENTQ_REDIS_PREFIX ?? 'agentq'));
    const post = async (): Promise<string> => {
      const res = await stack.api('/v1/tasks', { method: 'POST', body: JSON.stringify({ repo: 'demo/hello', prompt: 'add a CONTRIBUTING.md' }) });
      if (res.status !== 202) throw new Error(`POST /v1/tasks answered ${res.status}`);
      return ((await res.json()) as { id: string }).id;
    };
    const tasks: string[] = [];
    for (let i = 0; i < options.tasks; i++) tasks.push(await post());
    const pid = stack.services.get('ingress')?.child.pid;
    console.log(`live streams: the ingress process, ${options.tasks} tasks, ${options.samples} requests of each kind one after another at each level (redis clients: the bench's own connection included)`);
    for (const level of options.levels) {
      const opened = level > 0 ? await SseCrowd.open({ base: stack.url, paths: tasks.map((id) => `/v1/tasks/${id}/events`), count: level, headers: { authorization: `Bearer ${stack.token}` } }) : undefined;
      try {
        if (opened && opened.opened !== level) throw new Error(`${opened.refused} of ${level} streams were refused`);
        const ready: number[] = [];
        const posts: number[] = [];
        for (let i = 0; i < options.samples; i++) {
          let t0 = performance.now();
          await (await fetch(`${stack.url}/readyz`)).arrayBuffer();
          ready.push(performance.now() - t0);
          t0 = performance.now();
          await post();
          posts.push(performance.now() - t0);
        }
        let fanout = '—';
        if (opened) {
          const marker = `bench-marker-${level}`;
          const t0 = performance.now();
          for (const id of tasks) await store.append(id, [{ kind: 'agent.message', text: marker }]);
          const seen = await opened.crowd.expect(marker);
          fanout = fmt(performance.now() - t0);
          if (seen !== level) throw new Error(`${level - seen} streams missed the new event`);
        }
        const connections = ((await redis.client('LIST')) as string).trim().split('\n').length;
        const r = percentiles(ready);
        const p = percentiles(posts);
        console.log(
          `  ${String(level).padStart(6)} streams: /readyz p50 ${fmt(r.p50)} p99 ${fmt(r.p99)} | POST p50 ${fmt(p.p50)} p99 ${fmt(p.p99)} | new event to all ${fanout} | ingress rss ${await rssMb(pid)} | redis clients ${connections}`,
        );
      } finally {
        await opened?.crowd.close();
      }
    }
  } finally {
    redis.disconnect();
    await stack.stop();
  }
}
