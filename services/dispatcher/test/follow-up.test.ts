import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DEMO_REPO, branchName, git, newTaskId, type AgentEvent, type TaskRecord } from '@agentq/shared';
import { startTestRedis, waitFor, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDispatcherFixture, type DispatcherFixture } from './support/dispatcher-fixture.js';

const TUNING = { cancelPollMs: 200, waitRecheckMs: 150 };

/** What the dispatcher said in the task's events (not lines of the sandbox's output). */
function logTexts(events: AgentEvent[]): string[] {
  return events.flatMap((e) => (e.kind === 'log' && e.stream === 'system' && e.line === undefined ? [e.text] : []));
}

function messages(events: AgentEvent[]): string[] {
  return events.flatMap((e) => (e.kind === 'agent.message' ? [e.text] : []));
}

async function show(fx: DispatcherFixture, ref: string): Promise<string> {
  return (await git(['show', ref], { cwd: fx.forge.path(DEMO_REPO) })).stdout;
}

async function parentOf(fx: DispatcherFixture, commit: string): Promise<string> {
  return (await git(['rev-parse', `${commit}^`], { cwd: fx.forge.path(DEMO_REPO) })).stdout.trim();
}

async function defaultHead(fx: DispatcherFixture): Promise<string> {
  return (await git(['rev-parse', 'HEAD'], { cwd: fx.forge.path(DEMO_REPO) })).stdout.trim();
}

describe('follow-up runs', () => {
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

  it('waits for the task it follows, then continues its branch and resumes its session', async () => {
    fx = await startDispatcherFixture(redis.url, { AGENTQ_DEMO_DELAY_MS: '250' }, TUNING);
    const first = await fx.submit({ repo: DEMO_REPO, prompt: 'add a CONTRIBUTING.md' });
    await fx.waitState(first, 'running');
    const followUp = await fx.submit({ repo: DEMO_REPO, prompt: 'add a SECURITY.md' }, { followUpOf: first, after: first });

    const one = await fx.waitFinal(first);
    const two = await fx.waitFinal(followUp);
    expect(one.state, JSON.stringify(one.error)).toBe('succeeded');
    expect(two.state, JSON.stringify(two.error)).toBe('succeeded');
    expect(Date.parse(two.startedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(one.finishedAt ?? ''));
    // it was put aside while the first task ran, and said once what it waited for; it waits no more
    const waiting = (await fx.events(followUp)).filter((e) => e.kind === 'task.waiting');
    expect(waiting).toEqual([expect.objectContaining({ reason: 'predecessor', on: first })]);
    expect(Date.parse(waiting[0]?.ts ?? '')).toBeLessThan(Date.parse(one.finishedAt ?? ''));
    expect(two.waiting).toBeUndefined();

    // same branch, a fast-forward: the follow-up's commit sits on the first task's commit
    expect(one.branch).toBe(branchName(first, 'add a CONTRIBUTING.md'));
    expect(two.branch).toBe(one.branch);
    expect(two.baseCommit).toBe(one.commit);
    expect(await parentOf(fx, two.commit as string)).toBe(one.commit);
    expect(await fx.forge.branchCommit(DEMO_REPO, one.branch as string)).toBe(two.commit);
    expect(await show(fx, `${two.branch}:CONTRIBUTING.md`)).toContain('# Contributing to hello');
    expect(await show(fx, `${two.branch}:SECURITY.md`)).toContain('add a SECURITY.md');
    expect(two.diffStat?.files).toBe(1);

    // the same agent session, with what it remembered from the first run
    expect(two.sessionId).toBe(one.sessionId);
    const events = await fx.events(followUp);
    expect(events.find((e) => e.kind === 'agent.init')).toMatchObject({ sessionId: one.sessionId });
    expect(messages(events)).toContain(`Resuming session ${one.sessionId}. Earlier in this session: "add a CONTRIBUTING.md".`);
    expect(logTexts(events)).toEqual(
      expect.arrayContaining([
        `continuing branch ${one.branch} of task ${first}`,
        `resuming agent session ${one.sessionId} of task ${first}`,
      ]),
    );
    expect(events.find((e) => e.kind === 'git' && e.action === 'branch')).toMatchObject({
      ok: true,
      branch: one.branch,
      message: 'continues the existing branch',
    });
    expect(events.find((e) => e.kind === 'git' && e.action === 'push')).toMatchObject({ ok: true, branch: one.branch, commit: two.commit });
    expect(events.at(-1)).toMatchObject({ kind: 'task.state', state: 'succeeded' });
    expect(await fx.dispatcher.registry.metrics()).toMatch(/agentq_dispatcher_jobs_deferred_total\{service="dispatcher"\} [1-9]/);
  });

  it('does not hold a worker while waiting: with one worker, a later task runs first; a canceled waiting task never runs', async () => {
    fx = await startDispatcherFixture(redis.url, { AGENTQ_DISPATCHER_CONCURRENCY: '1' }, TUNING);
    // a task another dispatcher is running: a record in state running, no job here
    const parent = newTaskId();
    await fx.store.create({ id: parent, repo: DEMO_REPO, prompt: 'work elsewhere', team: 'default', source: 'api' });
    expect((await fx.store.transition(parent, 'starting')).ok).toBe(true);
    expect((await fx.store.transition(parent, 'running')).ok).toBe(true);

    const followUp = await fx.submit({ repo: DEMO_REPO, prompt: 'add a SECURITY.md' }, { followUpOf: parent, after: parent });
    const dropped = await fx.submit({ repo: DEMO_REPO, prompt: 'add a LICENSE.md' }, { followUpOf: parent, after: parent });
    for (const id of [followUp, dropped]) {
      const task = await waitFor(async () => {
        const t = await fx?.store.get(id);
        return t?.waiting ? t : undefined;
      }, { what: `task ${id} to wait` });
      expect(task.waiting).toMatchObject({ reason: 'predecessor', on: parent });
      expect(task.waiting?.position).toBeUndefined();
      expect(Date.parse(task.waiting?.since ?? '')).toBeGreaterThan(0);
    }
    // the ingress cancels a queued task directly
    expect((await fx.store.transition(dropped, 'canceled')).ok).toBe(true);

    const unrelated = await fx.submit({ repo: DEMO_REPO, prompt: 'add a CONTRIBUTING.md' });
    const done = await fx.waitFinal(unrelated);
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    expect((await fx.store.get(followUp))?.state).toBe('queued');

    // the parent ends with no branch and no session: the follow-up starts fresh
    expect((await fx.store.transition(parent, 'failed', { error: { code: 'DISPATCH_AGENT_FAILED', message: 'x' } })).ok).toBe(true);
    const task = await fx.waitFinal(followUp);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect(Date.parse(task.startedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(done.finishedAt ?? ''));
    // waiting used no attempt: the job completed on its first run
    await waitFor(async () => (await fx?.queue.getJob(followUp))?.isCompleted(), { what: 'the job to complete' });
    // read again once completed: a job read before it completed holds the counters of then
    const job = await fx.queue.getJob(followUp);
    if (!job) throw new Error('the follow-up job is gone');
    expect(job.attemptsStarted).toBeGreaterThan(1);
    expect(job.attemptsMade).toBe(1);
    expect(job.stacktrace).toEqual([]);
    expect(task.branch).toBe(branchName(followUp, 'add a SECURITY.md'));
    expect(task.baseCommit).toBe(await defaultHead(fx));
    const texts = logTexts(await fx.events(followUp));
    expect(texts).toContain(`task ${parent} has no branch (it pushed no changes); starting from the default branch on a new branch ${task.branch}`);
    expect(texts).toContain(`task ${parent} has no agent session to resume; the agent starts a new one`);

    const canceled = await fx.store.get(dropped);
    expect(canceled?.state).toBe('canceled');
    expect(canceled?.startedAt).toBeUndefined();
    expect(existsSync(join(fx.dataDir, 'sandboxes', dropped))).toBe(false);
    expect((await fx.events(dropped)).at(-1)).toMatchObject({ kind: 'task.state', state: 'canceled', from: 'queued' });
  });

  it('starts a new branch from the base when the parent pushed none, and a new session when its files are gone', async () => {
    fx = await startDispatcherFixture(redis.url, {}, TUNING);
    const question = 'what does hello.js do?';
    const parentId = await fx.submit({ repo: DEMO_REPO, prompt: question });
    const parent: TaskRecord = await fx.waitFinal(parentId);
    expect(parent).toMatchObject({ state: 'succeeded', noChanges: true });
    expect(parent.branch).toBeUndefined();

    const prompt = 'add a SECURITY.md';
    const followUp = await fx.submit({ repo: DEMO_REPO, prompt }, { followUpOf: parentId, after: parentId });
    const task = await fx.waitFinal(followUp);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect(task.branch).toBe(branchName(followUp, prompt));
    expect(task.baseCommit).toBe(await defaultHead(fx));
    expect(await parentOf(fx, task.commit as string)).toBe(task.baseCommit);
    expect(task.sessionId).toBe(parent.sessionId);
    const events = await fx.events(followUp);
    expect(logTexts(events)).toEqual([
      `task ${parentId} has no branch (it pushed no changes); starting from the default branch on a new branch ${task.branch}`,
      `resuming agent session ${parent.sessionId} of task ${parentId}`,
    ]);
    expect(messages(events)).toContain(`Resuming session ${parent.sessionId}. Earlier in this session: "${question}".`);
    expect(events.find((e) => e.kind === 'git' && e.action === 'branch')).not.toHaveProperty('message');

    // the parent's sandbox home is gone: the follow-up runs without resuming and says so
    await rm(join(fx.dataDir, 'sandboxes', parentId, 'home'), { recursive: true, force: true });
    const again = await fx.submit({ repo: DEMO_REPO, prompt: 'add a CHANGELOG.md' }, { followUpOf: parentId });
    const fresh = await fx.waitFinal(again);
    expect(fresh.state, JSON.stringify(fresh.error)).toBe('succeeded');
    expect(fresh.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(fresh.sessionId).not.toBe(parent.sessionId);
    const freshEvents = await fx.events(again);
    expect(logTexts(freshEvents)).toContain(`the session files of task ${parentId} are gone; the agent starts a new session`);
    expect(messages(freshEvents).some((m) => m.startsWith('Resuming'))).toBe(false);
  });

  it('keeps the branch on the record when a follow-up changes nothing', async () => {
    fx = await startDispatcherFixture(redis.url, {}, TUNING);
    const first = await fx.submit({ repo: DEMO_REPO, prompt: 'add a CONTRIBUTING.md' });
    const one = await fx.waitFinal(first);
    expect(one.state).toBe('succeeded');
    const followUp = await fx.submit({ repo: DEMO_REPO, prompt: 'what is in CONTRIBUTING.md?' }, { followUpOf: first });
    const two = await fx.waitFinal(followUp);
    expect(two).toMatchObject({ state: 'succeeded', noChanges: true, branch: one.branch, baseCommit: one.commit });
    expect(two.commit).toBeUndefined();
    expect(await fx.forge.branchCommit(DEMO_REPO, one.branch as string)).toBe(one.commit);
  });

  it('runs a task whose predecessor does not exist as a new task', async () => {
    fx = await startDispatcherFixture(redis.url, {}, TUNING);
    const missing = newTaskId();
    const id = await fx.submit({ repo: DEMO_REPO, prompt: 'add a CHANGELOG.md' }, { followUpOf: missing, after: missing });
    const task = await fx.waitFinal(id);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect(task.branch).toBe(branchName(id, 'add a CHANGELOG.md'));
    expect(logTexts(await fx.events(id))).toEqual([
      `task ${missing} to follow up does not exist; running as a new task on branch ${task.branch}`,
    ]);
  });
});
