/*
 * The model gateway's added latency, on loopback: the same scripted fake of the Anthropic
 * Messages API called directly and through the ingress's gateway (token lookup, task and budget
 * checks, rate counters, forwarding, metering), one after the other in alternating rounds.
 * Streamed: the delay from the upstream writing each SSE chunk to the client reading it
 * (p50/p99 per chunk); non-streamed: the whole call (p50/p99).
 */
import { performance } from 'node:perf_hooks';
import { TaskStore, connectRedis, mintGatewayToken, redisKeys } from '@agentq/shared';
import { FakeModelApi, anthropicMessage, anthropicStream } from '@agentq/shared/testing';
import { request } from 'undici';
import { startStack } from '../test/support/stack.js';
import { fmt, percentiles } from './stats.js';

export interface GatewayBenchOptions {
  rounds: number;
  /** Streamed calls per round and path. */
  calls: number;
  /** Text chunks per streamed answer. */
  chunks: number;
  /** Pause between two chunks, ms. */
  gapMs: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function benchGateway(options: GatewayBenchOptions): Promise<void> {
  const upstream = new FakeModelApi();
  const upstreamUrl = await upstream.start();
  // the ingress in a process of its own, as deployed; no dispatcher, so the task stays queued
  const stack = await startStack(
    { ANTHROPIC_API_KEY: 'sk-bench', ANTHROPIC_BASE_URL: upstreamUrl, AGENTQ_GATEWAY_TASK_RPM: '100000', AGENTQ_GATEWAY_TEAM_RPM: '1000000', AGENTQ_LOG_LEVEL: 'warn' },
    ['ingress'],
  );
  const redis = connectRedis(String(stack.env.REDIS_URL));
  try {
    const res = await stack.api('/v1/tasks', { method: 'POST', body: JSON.stringify({ repo: 'demo/hello', prompt: 'bench' }) });
    const { id } = (await res.json()) as { id: string };
    const keys = redisKeys(String(stack.env.AGENTQ_REDIS_PREFIX));
    const task = await new TaskStore(redis, keys).require(id);
    const token = await mintGatewayToken(redis, keys, { taskId: id, team: task.team }, 3600);
    // chunk i carries the marker `"i":<i>`; the upstream notes when it writes it
    let sentAt: number[] = [];
    const texts = Array.from({ length: options.chunks }, (_, i) => `chunk ${i}`);
    const stream = anthropicStream({ text: texts }).map((chunk, i) => chunk.replace('data: {', `data: {"i":${i},`));
    upstream.answer = (c) =>
      c.body.includes('"stream":true')
        ? {
            headers: { 'content-type': 'text/event-stream' },
            chunks: stream,
            before: async (i) => {
              if (i > 0) await sleep(options.gapMs);
              sentAt[i] = performance.now();
            },
          }
        : { headers: { 'content-type': 'application/json' }, chunks: [anthropicMessage()] };

    const paths = { direct: { url: `${upstreamUrl}/v1/messages`, key: 'sk-direct' }, gateway: { url: `${stack.url}/llm/anthropic/v1/messages`, key: token } };
    const chunkMs = { direct: [] as number[], gateway: [] as number[] };
    const callMs = { direct: [] as number[], gateway: [] as number[] };

    const streamed = async (path: keyof typeof paths) => {
      sentAt = [];
      const res = await request(paths[path].url, { method: 'POST', headers: { 'x-api-key': paths[path].key, 'content-type': 'application/json' }, body: '{"stream":true}' });
      let text = '';
      for await (const chunk of res.body) {
        const now = performance.now();
        text += (chunk as Buffer).toString('utf8');
        let end = text.indexOf('\n\n');
        while (end !== -1) {
          const index = /"i":(\d+)/.exec(text.slice(0, end))?.[1];
          const sent = index === undefined ? undefined : sentAt[Number(index)];
          if (sent !== undefined) chunkMs[path].push(now - sent);
          text = text.slice(end + 2);
          end = text.indexOf('\n\n');
        }
      }
    };
    const whole = async (path: keyof typeof paths) => {
      const t0 = performance.now();
      const res = await request(paths[path].url, { method: 'POST', headers: { 'x-api-key': paths[path].key, 'content-type': 'application/json' }, body: '{"model":"claude-sonnet-4-5"}' });
      await res.body.text();
      callMs[path].push(performance.now() - t0);
    };

    // warm-up: connections, JIT
    for (let i = 0; i < 20; i++) for (const path of ['direct', 'gateway'] as const) await whole(path);
    for (const path of ['direct', 'gateway'] as const) {
      chunkMs[path] = [];
      callMs[path] = [];
    }
    for (let round = 0; round < options.rounds; round++) {
      for (const path of ['direct', 'gateway'] as const) {
        for (let i = 0; i < options.calls; i++) await streamed(path);
        for (let i = 0; i < options.calls * 4; i++) await whole(path);
      }
    }

    console.log(`model gateway vs the upstream directly, loopback, ${options.rounds} rounds × ${options.calls} streamed calls of ${stream.length} SSE chunks ${options.gapMs} ms apart, ${options.calls * 4} non-streamed calls`);
    for (const [what, samples] of [['per streamed chunk', chunkMs], ['per non-streamed call', callMs]] as const) {
      const d = percentiles(samples.direct);
      const g = percentiles(samples.gateway);
      console.log(`  ${what} (${samples.gateway.length} samples)`);
      console.log(`    direct   p50 ${fmt(d.p50)}  p99 ${fmt(d.p99)}`);
      console.log(`    gateway  p50 ${fmt(g.p50)}  p99 ${fmt(g.p99)}`);
      console.log(`    added    p50 ${fmt(g.p50 - d.p50)}  p99 ${fmt(g.p99 - d.p99)}`);
    }
  } finally {
    redis.disconnect();
    await stack.stop();
    await upstream.stop();
  }
}
