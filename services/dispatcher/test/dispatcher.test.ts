import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_REPO, branchName, git, type AgentEvent } from '@agentq/shared';
import { startTestRedis, waitFor, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDispatcherFixture, type DispatcherFixture } from './support/dispatcher-fixture.js';
import { groupSignalable, sandboxPgid, waitGroupGone } from './support/process.js';
import { expectContiguous } from './support/event-checks.js';

const SECRET = 's3cr3t-dispatch-5d2e9a7b1c';


/** Every output line's events appear once and in order: a replayed line would make `line` go back. */
function expectLinesOnce(events: AgentEvent[]): void {
  const lines = events.filter((e) => e.line !== undefined).map((e) => e.line as number);
  expect(lines.length).toBeGreaterThan(0);
  lines.forEach((line, i) => {
    if (i > 0) expect(line).toBeGreaterThanOrEqual(lines[i - 1] as number);
  });
  const rawByLine = new Map<number, number>();
  for (const e of events) if (e.line !== undefined && e.raw !== undefined) rawByLine.set(e.line, (rawByLine.get(e.line) ?? 0) + 1);
  expect([...rawByLine.values()].every((n) => n === 1)).toBe(true);
}

function states(events: AgentEvent[]): string[] {
  return events.flatMap((e) => (e.kind === 'task.state' ? [e.state] : []));
}

describe('dispatcher with the demo harness', () => {
  let redis: TestRedis;
  let fx: DispatcherFixture | undefined;

  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('turns a task into a pushed branch, a complete event stream and a filled-in record', async () => {
    fx = await startDispatcherFixture(redis.url);
    const prompt = 'add a CONTRIBUTING.md';
    const id = await fx.submit({ repo: DEMO_REPO, prompt });
    const task = await fx.waitFinal(id);

    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect(task.branch).toBe(branchName(id, prompt));
    expect(task.branch).toMatch(/^agentq\/[0-9a-z]{8}-add-a-contributing-md$/);
    expect(task.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(task.baseCommit).toMatch(/^[0-9a-f]{40}$/);
    expect(task.diffStat).toMatchObject({ files: 1, deletions: 0 });
    expect(task.diffStat?.insertions).toBeGreaterThan(5);
    expect(task.durationMs).toBeGreaterThan(0);
    expect(task.turns).toBeGreaterThan(0);
    expect(task).toMatchObject({ costUsd: 0, exitCode: 0, provider: 'local', sandboxId: id });
    expect(task.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(task.summary).toContain('CONTRIBUTING.md');
    expect(task.startedAt && task.finishedAt).toBeTruthy();

    // the branch is in the forge's bare repository, at the recorded commit, holding the file
    expect(await fx.forge.branchCommit(DEMO_REPO, task.branch as string)).toBe(task.commit);
    const { stdout: file } = await git(['show', `${task.branch}:CONTRIBUTING.md`], { cwd: fx.forge.path(DEMO_REPO) });
    expect(file).toContain('# Contributing to hello');
    expect(file).toContain('`hello.js`');
    const { stdout: subject } = await git(['log', '-1', '--format=%s%n%an', task.branch as string], { cwd: fx.forge.path(DEMO_REPO) });
    expect(subject.trim()).toBe(`${prompt}\nagentq`);

    const events = await fx.events(id);
    expectContiguous(events);
    expectLinesOnce(events);
    expect(events.at(-1)).toMatchObject({ kind: 'task.state', state: 'succeeded' });
    expect(states(events)).toEqual(['queued', 'starting', 'running', 'publishing', 'succeeded']);
    expect(events.find((e) => e.kind === 'agent.init')).toMatchObject({ harness: 'demo', sessionId: task.sessionId });
    expect(events.some((e) => e.kind === 'agent.tool_call' && e.name === 'Write')).toBe(true);
    expect(events.find((e) => e.kind === 'git' && e.action === 'push')).toMatchObject({ ok: true, commit: task.commit, branch: task.branch });
    expect(events.filter((e) => e.kind === 'step').map((e) => (e.kind === 'step' ? e.step : ''))).toEqual([
      'sandbox',
      'clone',
      'agent',
      'commit',
      'push',
    ]);
    // every event parsed from output says which line it came from
    expect(events.filter((e) => e.kind !== 'task.state' && !(e.kind === 'step' && e.step === 'sandbox')).every((e) => (e.line ?? 0) >= 1)).toBe(true);

    // the working tree is freed, the output kept
    const dir = join(fx.dataDir, 'sandboxes', id);
    expect(existsSync(join(dir, 'repo'))).toBe(false);
    expect(existsSync(join(dir, 'output.log'))).toBe(true);

    const metrics = await fx.dispatcher.registry.metrics();
    expect(metrics).toMatch(/agentq_dispatcher_tasks_finished_total\{outcome="succeeded",service="dispatcher"\} 1/);
    expect(metrics).toMatch(/agentq_dispatcher_tasks_started_total\{harness="demo",service="dispatcher"\} 1/);
    expect(metrics).toMatch(/agentq_dispatcher_running_tasks\{service="dispatcher"\} 0/);
    expect(metrics).toMatch(/^agentq_queue_wait_seconds_count\{service="dispatcher"\} 1$/m);
    const waited = Number(/^agentq_queue_wait_seconds_sum\{service="dispatcher"\} (\S+)$/m.exec(metrics)?.[1]);
    expect(waited).toBeGreaterThan(0);
    expect(waited * 1000).toBeLessThan(Date.parse(task.finishedAt as string) - Date.parse(task.createdAt));
    expect(metrics).toMatch(/^agentq_dispatcher_sandboxes_live\{provider="local",service="dispatcher"\} 0$/m);
  });

  it('fails a task with the agent\'s own reason, and records a run without changes as succeeded', async () => {
    fx = await startDispatcherFixture(redis.url);
    const failing = await fx.submit({ repo: DEMO_REPO, prompt: 'please fail at this' });
    const answering = await fx.submit({ repo: DEMO_REPO, prompt: 'what does hello.js do?' });

    const failed = await fx.waitFinal(failing);
    expect(failed.state).toBe('failed');
    expect(failed.error).toEqual({
      code: 'DISPATCH_AGENT_FAILED',
      message: 'The demo agent was asked to fail, so it stopped without changing anything.',
    });
    expect(failed.exitCode).toBe(1);
    expect(failed.branch).toBeUndefined();
    expect(await fx.forge.branchCommit(DEMO_REPO, branchName(failing, 'please fail at this'))).toBeUndefined();
    const failedEvents = await fx.events(failing);
    expectContiguous(failedEvents);
    expect(failedEvents.at(-1)).toMatchObject({ kind: 'task.state', state: 'failed', error: { code: 'DISPATCH_AGENT_FAILED' } });

    const answered = await fx.waitFinal(answering);
    expect(answered.state).toBe('succeeded');
    expect(answered.noChanges).toBe(true);
    expect(answered.summary).toMatch(/^The repository has 2 file\(s\): /);
    expect(answered.branch).toBeUndefined();
    expect(answered.commit).toBeUndefined();
    expect(await fx.forge.branchCommit(DEMO_REPO, branchName(answering, 'what does hello.js do?'))).toBeUndefined();
    const answerEvents = await fx.events(answering);
    expect(answerEvents.some((e) => e.kind === 'git' && e.action === 'no_changes')).toBe(true);
    expect(answerEvents.at(-1)).toMatchObject({ kind: 'task.state', state: 'succeeded' });
  });

  it('fails tasks for unknown repositories and unknown base refs without running an agent', async () => {
    fx = await startDispatcherFixture(redis.url);
    const unknownRepo = await fx.submit({ repo: 'nobody/nothing', prompt: 'add a README.md' });
    const unknownRef = await fx.submit({ repo: DEMO_REPO, prompt: 'add a README.md', baseRef: 'no-such-branch' });

    const repoTask = await fx.waitFinal(unknownRepo);
    expect(repoTask).toMatchObject({ state: 'failed', error: { code: 'DISPATCH_UNKNOWN_REPO' } });
    expect(existsSync(join(fx.dataDir, 'sandboxes', unknownRepo))).toBe(false);

    const refTask = await fx.waitFinal(unknownRef);
    expect(refTask).toMatchObject({ state: 'failed', error: { code: 'DISPATCH_BASE_REF_NOT_FOUND' } });
    expect(refTask.error?.message).toContain('no-such-branch');
    const events = await fx.events(unknownRef);
    expect(events.some((e) => e.kind === 'agent.init')).toBe(false);
    expect(events.at(-1)).toMatchObject({ kind: 'task.state', state: 'failed' });
  });

  it('cancels a running task: the process group is gone and the task ends canceled', async () => {
    fx = await startDispatcherFixture(redis.url, { AGENTQ_DEMO_DELAY_MS: '5000' });
    const id = await fx.submit({ repo: DEMO_REPO, prompt: 'add a CONTRIBUTING.md' });
    await waitFor(async () => (await fx?.events(id))?.some((e) => e.kind === 'agent.init'), { what: 'the agent to start' });
    expect((await fx.store.get(id))?.state).toBe('running');
    const pgid = await sandboxPgid(fx.dataDir, id);
    expect(groupSignalable(pgid)).toBe(true);
    expect(await fx.dispatcher.registry.metrics()).toMatch(/^agentq_dispatcher_sandboxes_live\{provider="local",service="dispatcher"\} 1$/m);

    await fx.cancel(id);
    const task = await fx.waitFinal(id, 10_000);
    expect(task.state).toBe('canceled');
    expect(task.error).toBeUndefined();
    await waitGroupGone(pgid);
    expect(await fx.dispatcher.registry.metrics()).toMatch(/^agentq_dispatcher_sandboxes_live\{provider="local",service="dispatcher"\} 0$/m);
    const events = await fx.events(id);
    expectContiguous(events);
    expect(events.at(-1)).toMatchObject({ kind: 'task.state', state: 'canceled', from: 'running' });
  });

  it('stops a task at its time limit: timed_out, and the process group is gone', async () => {
    fx = await startDispatcherFixture(redis.url, { AGENTQ_DEMO_DELAY_MS: '60000' });
    const id = await fx.submit({ repo: DEMO_REPO, prompt: 'add a CONTRIBUTING.md', limits: { timeoutSec: 1 } });
    await fx.waitState(id, 'running');
    const pgid = await sandboxPgid(fx.dataDir, id);
    const task = await fx.waitFinal(id, 10_000);
    expect(task.state).toBe('timed_out');
    expect(task.error).toEqual({ code: 'DISPATCH_TIMEOUT', message: 'the task ran longer than its limit of 1 s' });
    await waitGroupGone(pgid);
    const events = await fx.events(id);
    expectContiguous(events);
    expect(events.at(-1)).toMatchObject({ kind: 'task.state', state: 'timed_out' });
  });

  it('never writes a sandbox secret to the stream, the record or the logs', async () => {
    fx = await startDispatcherFixture(redis.url, { AGENTQ_SANDBOX_ENV: 'AGENTQ_TEST_SECRET', AGENTQ_TEST_SECRET: SECRET });
    const id = await fx.submit({ repo: DEMO_REPO, prompt: 'print the environment, then add a CONTRIBUTING.md' });
    const task = await fx.waitFinal(id);
    expect(task.state).toBe('succeeded');

    const stream = JSON.stringify(await fx.redis.xrange(fx.keys.events(id), '-', '+'));
    const record = JSON.stringify(await fx.redis.hgetall(fx.keys.task(id)));
    expect(stream).toContain('AGENTQ_TEST_SECRET=[REDACTED]');
    expect(stream).not.toContain(SECRET);
    expect(record).not.toContain(SECRET);
    const logs = fx.logs.join('');
    expect(logs).toContain('task finished');
    expect(logs).not.toContain(SECRET);
    // the agent really saw it
    const envResult = (await fx.events(id)).find((e) => e.kind === 'agent.tool_result' && e.output.includes('AGENTQ_TEST_SECRET='));
    expect(envResult).toBeDefined();
  });

  it('hands a running task over at shutdown; the next dispatcher re-attaches to the same sandbox', async () => {
    // default lock timings (30 s): the job must be handed back, not recovered as a stalled job
    fx = await startDispatcherFixture(redis.url, { AGENTQ_DEMO_DELAY_MS: '400' });
    const id = await fx.submit({ repo: DEMO_REPO, prompt: 'add a CONTRIBUTING.md' });
    await waitFor(async () => (await fx?.events(id))?.some((e) => e.kind === 'agent.tool_call'), { timeoutMs: 15_000, what: 'a tool call' });
    const pgid = await sandboxPgid(fx.dataDir, id);

    await fx.dispatcher.close();
    await fx.dispatcher.close(); // twice is fine
    expect(groupSignalable(pgid)).toBe(true);
    expect((await fx.store.get(id))?.state).toBe('running');
    // close() returns once the job is back in the queue, unlocked
    expect(await fx.queue.getJobState(id)).toBe('waiting');

    const next = await fx.startAnother();
    const task = await fx.waitFinal(id, 20_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; dispatcher logs:\n${fx?.logs.join('').slice(-6000)}`);
    });
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect(task.sandboxId).toBe(id);
    expect(await sandboxPgid(fx.dataDir, id)).toBe(pgid);
    const events = await fx.events(id);
    expectContiguous(events);
    expectLinesOnce(events);
    expect(events.filter((e) => e.kind === 'step' && e.step === 'sandbox')).toHaveLength(1);
    expect(events.filter((e) => e.kind === 'agent.result')).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ kind: 'task.state', state: 'succeeded' });
    expect(await next.registry.metrics()).toMatch(/agentq_dispatcher_sandboxes_attached_total\{service="dispatcher"\} 1/);
  }, 90_000);

  it('finishes from the output of a sandbox that ended while no dispatcher ran, and fails one that vanished', async () => {
    fx = await startDispatcherFixture(redis.url, { AGENTQ_DEMO_DELAY_MS: '300' });
    const ended = await fx.submit({ repo: DEMO_REPO, prompt: 'add a CONTRIBUTING.md' });
    const vanished = await fx.submit({ repo: DEMO_REPO, prompt: 'add a SECURITY.md' });
    await fx.waitState(ended, 'running');
    await fx.waitState(vanished, 'running');
    await fx.dispatcher.close();

    // one sandbox runs to its end alone; the other is killed from outside
    process.kill(-(await sandboxPgid(fx.dataDir, vanished)), 'SIGKILL');
    await waitFor(() => existsSync(join(fx?.dataDir ?? '', 'sandboxes', ended, 'exit-code')), { timeoutMs: 15_000, what: 'the sandbox to end' });

    await fx.startAnother();
    const done = await fx.waitFinal(ended);
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    expect(await fx.forge.branchCommit(DEMO_REPO, done.branch as string)).toBe(done.commit);
    const doneEvents = await fx.events(ended);
    expectContiguous(doneEvents);
    expectLinesOnce(doneEvents);

    const lost = await fx.waitFinal(vanished);
    expect(lost).toMatchObject({ state: 'failed', error: { code: 'DISPATCH_SANDBOX_LOST' } });
    expect((await fx.events(vanished)).at(-1)).toMatchObject({ kind: 'task.state', state: 'failed' });
  });

  it('re-attaches to the sandbox of a dispatcher killed with SIGKILL, with no gap and no duplicate', async () => {
    fx = await startDispatcherFixture(redis.url, { AGENTQ_DEMO_DELAY_MS: '400' }, { lockDurationMs: 2000, stalledIntervalMs: 1000, cancelPollMs: 200 });
    // the fixture's own dispatcher stays out of this: only the process takes the job
    await fx.dispatcher.close();
    const child = fork(join(import.meta.dirname, 'support', 'dispatcher-process.ts'), [], {
      execArgv: ['--import', 'tsx'],
      env: {
        PATH: process.env.PATH,
        REDIS_URL: redis.url,
        AGENTQ_REDIS_PREFIX: fx.config.redisPrefix,
        AGENTQ_DATA_DIR: fx.dataDir,
        AGENTQ_HARNESS: 'demo',
        AGENTQ_DEMO_DELAY_MS: '400',
        AGENTQ_LOG_LEVEL: 'silent',
        AGENTQ_TEST_LOCK_MS: '2000',
      },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (code) => reject(new Error(`dispatcher process exited with ${code}`)));
      });
      const id = await fx.submit({ repo: DEMO_REPO, prompt: 'add a CONTRIBUTING.md' });
      await waitFor(async () => (await fx?.events(id))?.some((e) => e.kind === 'agent.tool_call'), { timeoutMs: 15_000, what: 'a tool call' });
      const pgid = await sandboxPgid(fx.dataDir, id);
      child.kill('SIGKILL');
      await exited;
      expect(groupSignalable(pgid)).toBe(true);

      const next = await fx.startAnother();
      const task = await fx.waitFinal(id, 20_000);
      expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
      expect(await sandboxPgid(fx.dataDir, id)).toBe(pgid);
      const events = await fx.events(id);
      expectContiguous(events);
      expectLinesOnce(events);
      expect(events.filter((e) => e.kind === 'step' && e.step === 'sandbox')).toHaveLength(1);
      expect(events.filter((e) => e.kind === 'agent.result')).toHaveLength(1);
      expect(await next.registry.metrics()).toMatch(/agentq_dispatcher_sandboxes_attached_total\{service="dispatcher"\} 1/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  });
});
