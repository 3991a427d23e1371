import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { connectRedis, queues, redisKeys, TaskStore } from '@agentq/shared';
import { waitFor } from '@agentq/shared/testing';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './support/stack.js';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'cli', 'bin', 'agentq.mjs');

interface CliProcess {
  output(): string;
  exit: Promise<number>;
}

/** `node cli/bin/agentq.mjs …` against the stack, its output readable while it runs. */
function agentq(stack: Stack, argv: string[]): CliProcess {
  const child = spawn(process.execPath, [BIN, ...argv], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, AGENTQ_URL: stack.url, AGENTQ_TOKEN: stack.token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exit = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code ?? -1));
  });
  return { output: () => out, exit };
}

async function run(stack: Stack, argv: string[]): Promise<{ code: number; out: string }> {
  const cli = agentq(stack, argv);
  const code = await cli.exit;
  return { code, out: cli.output() };
}

function queuedId(out: string): string {
  const id = /queued task ([0-9a-z]{26})/.exec(out)?.[1];
  if (!id) throw new Error(`no task id in: ${out}`);
  return id;
}

// The CLI against a real ingress process; the dispatcher is not running, so the tasks stay queued
// and the test writes what a dispatcher writes while a task waits (`waiting`, `task.waiting`).
describe('agentq and task priority and waiting, against the ingress', () => {
  let stack: Stack;
  let redis: Redis;
  let store: TaskStore;
  let queue: Queue;

  beforeAll(async () => {
    stack = await startStack({}, ['ingress']);
    redis = connectRedis(stack.env.REDIS_URL as string);
    const keys = redisKeys(stack.env.AGENTQ_REDIS_PREFIX as string);
    store = new TaskStore(redis, keys);
    queue = new Queue(queues.tasks.name, { connection: redis, prefix: keys.bullPrefix });
  }, 60_000);
  afterAll(async () => {
    await queue?.close();
    redis?.disconnect();
    await stack?.stop();
  });

  it('submits with --priority, refuses an unknown one, and shows the priority and why the task waits', async () => {
    const high = await run(stack, ['submit', 'demo/hello', 'add a CONTRIBUTING.md', '--priority', 'high']);
    expect(high.code).toBe(0);
    const id = queuedId(high.out);
    expect((await store.require(id)).priority).toBe('high');
    expect((await queue.getJob(id))?.opts.priority).toBe(1);

    const bad = await run(stack, ['submit', 'demo/hello', 'x', '--priority', 'urgent']);
    expect(bad.code).toBe(2);
    expect(bad.out).toContain("option '--priority <level>' argument 'urgent' is invalid. Allowed choices are low, normal, high.");
    expect(await queue.getJobCounts('prioritized', 'wait')).toEqual({ prioritized: 1, wait: 0 });

    const before = await run(stack, ['status', id]);
    expect(before.out).toMatch(/priority\s+high\n/);
    expect(before.out).not.toContain('waiting');
    const since = new Date(Date.now() - 90_000).toISOString();
    await store.update(id, { waiting: { reason: 'team', position: 2, since } });
    const waiting = await run(stack, ['status', id]);
    expect(waiting.code).toBe(0);
    expect(waiting.out).toContain(`waiting   team limit reached (position 2), since ${since} (1m ago)\n`);
  });

  it('prints a line for each task.waiting event while following a task', async () => {
    const first = queuedId((await run(stack, ['submit', 'demo/hello', 'add a LICENSE'])).out);
    const follow = agentq(stack, ['submit', 'demo/hello', 'add a README', '--priority', 'low', '--follow']);
    await waitFor(() => /state {2}queued\n/.test(follow.output()), { what: 'the queued state', timeoutMs: 20_000 });
    const id = queuedId(follow.output());

    await store.append(id, [{ kind: 'task.waiting', reason: 'repo', position: 3 }]);
    await waitFor(() => follow.output().includes('wait   waiting: repository limit reached (position 3)\n'), {
      what: `the waiting line in:\n${follow.output()}`,
    });
    await store.append(id, [{ kind: 'task.waiting', reason: 'predecessor', on: first }]);
    await waitFor(() => follow.output().includes(`wait   waiting for task ${first} to end\n`), { what: `the predecessor line in:\n${follow.output()}` });
    await store.transition(id, 'canceled');

    expect(await follow.exit).toBe(3);
    const out = follow.output();
    expect(out).toContain(`■ task ${id} canceled`);
    // one line each, in order, between the queued and the final state
    const lines = out.split('\n').filter((l) => /\b(state|wait) /.test(l)).map((l) => l.trim().replace(/^\d+:\d+\s+/, ''));
    expect(lines).toEqual([
      'state  queued',
      'wait   waiting: repository limit reached (position 3)',
      `wait   waiting for task ${first} to end`,
      'state  canceled',
    ]);
  });
});
