import {
  DEMO_REPO,
  DEMO_REPO_FILES,
  LocalForge,
  TaskStore,
  branchName,
  connectRedis,
  git,
  newTaskId,
  redisKeys,
  type NewTask,
  type TaskRecord,
  type TaskUpdate,
} from '@agentq/shared';
import { makeTempDir, startTestRedis, uniquePrefix, type TestRedis } from '@agentq/shared/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claudeCodeHarness } from '../src/harnesses/claude-code.js';
import { demoHarness } from '../src/harnesses/demo.js';
import { RunPlanner, type RunPlannerDeps } from '../src/run/run-plan.js';

const PARENT_BRANCH = 'agentq/parent-work';

describe('run planner', () => {
  let redis: TestRedis;
  let client: Redis;
  let data: Awaited<ReturnType<typeof makeTempDir>>;
  let forge: LocalForge;
  let store: TaskStore;

  beforeAll(async () => {
    redis = await startTestRedis();
    client = connectRedis(redis.url);
    data = await makeTempDir('agentq-plan-');
    forge = new LocalForge(data.path);
    await forge.seed(DEMO_REPO, DEMO_REPO_FILES);
    await git(['branch', PARENT_BRANCH, 'HEAD'], { cwd: forge.path(DEMO_REPO) });
    store = new TaskStore(client, redisKeys(uniquePrefix('plan')));
  });
  afterAll(async () => {
    client?.disconnect();
    await data?.remove();
    await redis?.stop();
  });

  const planner = (deps: Partial<RunPlannerDeps> = {}) =>
    new RunPlanner({ store, forge, github: false, providerName: 'local', defaultHarness: 'demo', ...deps });

  /** A task in the store, with the fields a run would have recorded on it. */
  async function task(fields: Partial<NewTask> = {}, recorded: TaskUpdate = {}): Promise<TaskRecord> {
    const id = newTaskId();
    await store.create({ id, repo: DEMO_REPO, prompt: 'add a CONTRIBUTING.md', team: 'default', source: 'api', ...fields });
    if (Object.keys(recorded).length > 0) await store.update(id, recorded);
    return store.require(id);
  }

  it('finds the forge of a repository: the local one first, GitHub only through an App', async () => {
    const local = await task();
    const elsewhere = await task({ repo: 'octo/widgets' });
    const onGitHub = await task({}, { forge: 'github' });
    expect(planner().forgeOf(local)).toBe('local');
    expect(planner().forgeOf(elsewhere)).toBeUndefined();
    expect(planner({ github: true }).forgeOf(elsewhere)).toBe('github');
    // a task recorded on GitHub stays there, even when the local forge has a repository of that name
    expect(planner({ github: true }).forgeOf(onGitHub)).toBe('github');
    expect(planner().forgeOf(onGitHub)).toBe('local');
  });

  it('gives a new task a branch of its own from its base, with nothing to say', async () => {
    const t = await task({ baseRef: 'main' });
    expect(await planner().plan(t)).toEqual({ branch: branchName(t.id, t.prompt), continueBranch: false, baseRef: 'main', notes: [] });
  });

  it('works on the branch of the pull request a task came from', async () => {
    const fromPull = await task({ baseRef: 'feature/existing', github: { issueNumber: 31, isPullRequest: true } });
    expect(await planner().plan(fromPull)).toMatchObject({
      branch: 'feature/existing',
      continueBranch: true,
      pull: { number: 31 },
      notes: ['working on branch feature/existing of pull request #31'],
    });
    // not from an issue, nor with a ref that is no branch name the run script takes
    const fromIssue = await task({ baseRef: 'feature/existing', github: { issueNumber: 5 } });
    expect(await planner().plan(fromIssue)).toMatchObject({ branch: branchName(fromIssue.id, fromIssue.prompt), continueBranch: false });
    const oddRef = await task({ baseRef: 'feature existing', github: { issueNumber: 31, isPullRequest: true } });
    expect((await planner().plan(oddRef)).continueBranch).toBe(false);
  });

  it('continues the branch a follow-up\'s parent pushed, and its pull request', async () => {
    const parent = await task({}, { branch: PARENT_BRANCH, prNumber: 12, prUrl: 'https://example.test/pull/12' });
    const followUp = await task({ followUpOf: parent.id, prompt: 'and a SECURITY.md' });
    const plan = await planner().plan(followUp);
    expect(plan).toMatchObject({
      branch: PARENT_BRANCH,
      continueBranch: true,
      pull: { number: 12, url: 'https://example.test/pull/12' },
      notes: [`continuing branch ${PARENT_BRANCH} of task ${parent.id}`],
    });
    expect(plan.parent?.id).toBe(parent.id);
  });

  it('starts a follow-up on a new branch from its parent\'s base when the parent\'s branch is not there', async () => {
    const gone = await task({ baseRef: 'main' }, { branch: 'agentq/deleted' });
    const followUp = await task({ followUpOf: gone.id });
    const own = branchName(followUp.id, followUp.prompt);
    expect(await planner().plan(followUp)).toMatchObject({
      branch: own,
      continueBranch: false,
      baseRef: 'main',
      notes: [`branch agentq/deleted of task ${gone.id} is not in ${DEMO_REPO}; starting from main on a new branch ${own}`],
    });

    const nothingPushed = await task();
    const second = await task({ followUpOf: nothingPushed.id });
    const plan = await planner().plan(second);
    expect(plan.notes).toEqual([
      `task ${nothingPushed.id} has no branch (it pushed no changes); starting from the default branch on a new branch ${branchName(second.id, second.prompt)}`,
    ]);
    expect(plan.parent?.id).toBe(nothingPushed.id);

    // another repository's branch and base are not this one's
    const elsewhere = await task({ repo: 'octo/other', baseRef: 'develop' }, { branch: PARENT_BRANCH });
    const third = await task({ followUpOf: elsewhere.id });
    expect(await planner().plan(third)).toMatchObject({ continueBranch: false, baseRef: undefined });
  });

  it('runs a follow-up of a task that does not exist as a new task', async () => {
    const missing = newTaskId();
    const t = await task({ followUpOf: missing });
    const plan = await planner().plan(t);
    expect(plan.continueBranch).toBe(false);
    expect(plan.parent).toBeUndefined();
    expect(plan.notes).toEqual([`task ${missing} to follow up does not exist; running as a new task on branch ${plan.branch}`]);
  });

  it('takes a branch pushed to GitHub to be there, and only one pushed there', async () => {
    const onGitHub = await task({ repo: 'octo/widgets' }, { forge: 'github', branch: 'agentq/pushed' });
    const followUp = await task({ repo: 'octo/widgets', followUpOf: onGitHub.id });
    expect(await planner({ github: true }).plan(followUp)).toMatchObject({ branch: 'agentq/pushed', continueBranch: true });
    const local = await task({}, { forge: 'local', branch: 'agentq/pushed' });
    const fromGitHub = await task({ followUpOf: local.id }, { forge: 'github' });
    expect((await planner({ github: true }).plan(fromGitHub)).continueBranch).toBe(false);
  });

  describe('the session of a follow-up', () => {
    const resumable: TaskUpdate = { branch: PARENT_BRANCH, sessionId: 'session-1', harness: 'demo', provider: 'local', sandboxId: 'sandbox-1' };

    async function planned(parentFields: TaskUpdate, deps: Partial<RunPlannerDeps> = {}) {
      const parent = await task({}, parentFields);
      const followUp = await task({ followUpOf: parent.id });
      const p = planner(deps);
      return { parent, base: await p.plan(followUp), p };
    }

    it('resumes the parent\'s session from its sandbox, with the harness\'s session files', async () => {
      const { base, p } = await planned(resumable);
      const plan = p.session(base, demoHarness);
      expect(plan.resumeSessionId).toBe('session-1');
      expect(plan.inherit).toEqual({ sandboxId: 'sandbox-1', homePaths: demoHarness.sessionFiles });
      expect(plan.notes).toEqual(base.notes);
      // the service's harness stands for a parent that named none
      const { base: unnamed, p: q } = await planned({ ...resumable, harness: undefined });
      expect(q.session(unnamed, demoHarness).resumeSessionId).toBe('session-1');
    });

    it('starts a new session, and says why, when the parent\'s cannot be resumed', async () => {
      const cases: [TaskUpdate, Partial<RunPlannerDeps>, (id: string) => string][] = [
        [{ ...resumable, sessionId: undefined }, {}, (id) => `task ${id} has no agent session to resume; the agent starts a new one`],
        [{ ...resumable, harness: 'claude-code' }, {}, (id) => `task ${id} ran the claude-code harness, whose session demo cannot resume; the agent starts a new one`],
        [{ ...resumable, sandboxId: undefined }, {}, (id) => `the sandbox of task ${id} is not available; the agent starts a new session`],
        [resumable, { providerName: 'docker' }, (id) => `the sandbox of task ${id} is not available; the agent starts a new session`],
      ];
      for (const [fields, deps, why] of cases) {
        const { parent, base, p } = await planned(fields, deps);
        const plan = p.session(base, demoHarness);
        expect(plan.resumeSessionId).toBeUndefined();
        expect(plan.inherit).toBeUndefined();
        expect(plan.notes).toEqual([...base.notes, why(parent.id)]);
      }
    });

    it('leaves a task that follows nothing as it is', async () => {
      const t = await task();
      const base = await planner().plan(t);
      expect(planner().session(base, claudeCodeHarness)).toEqual(base);
    });
  });
});
