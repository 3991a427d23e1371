import { createHash, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalForge, git } from '@agentq/shared';
import { makeTempDir, startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, checkSuiteCompleted, deliver, freshNumber, issueComment, startGitHubIngress, type GitHubFixture } from './github-fixture.js';
import { queueSnapshot } from './ingress-fixture.js';

let redis: TestRedis;
let fx: GitHubFixture;
let remote: { path: string; remove: () => Promise<void> };
let bare: string;

const sha = () => createHash('sha1').update(randomUUID()).digest('hex');

/** Commits files on a branch of the served repository (made from main when new). */
async function commitTo(branch: string, files: Record<string, string>): Promise<void> {
  const work = await makeTempDir('agentq-autofix-work-');
  try {
    await git(['clone', '--quiet', bare, work.path]);
    await git(['checkout', '--quiet', '-B', branch], { cwd: work.path });
    for (const [path, content] of Object.entries(files)) await writeFile(join(work.path, path), content);
    await git(['add', '-A'], { cwd: work.path });
    await git(['-c', 'user.name=Wanda', '-c', 'user.email=wanda@example.com', 'commit', '--quiet', '-m', 'settings'], { cwd: work.path });
    await git(['push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`], { cwd: work.path });
  } finally {
    await work.remove();
  }
}

async function agentqPull(branch: string, headSha: string): Promise<number> {
  const number = freshNumber();
  const res = await deliver(fx, 'issue_comment', issueComment(freshNumber(), '/agent write the docs'));
  const { taskId } = res.json<{ taskId: string }>();
  for (const state of ['starting', 'running', 'succeeded'] as const) await fx.store.transition(taskId, state);
  await fx.redis.set(fx.keys.githubPull(REPO, number), taskId);
  fx.fake.addPull(REPO, { number, head: branch, base: 'main', user: fx.fake.botLogin, headSha });
  fx.fake.addCheckRun(REPO, { headSha, name: 'build', conclusion: 'failure', appSlug: 'ci-example', output: { title: 'build broke', text: 'error TS2304' } });
  return number;
}

beforeAll(async () => {
  redis = await startTestRedis();
  remote = await makeTempDir('agentq-autofix-remote-');
  await new LocalForge(remote.path).seed(REPO, { 'README.md': '# widgets\n' });
  bare = join(remote.path, 'repos', 'octo', 'widgets.git');
  // off unless a repository turns it on
  fx = await startGitHubIngress(redis.url, { AGENTQ_MAX_PROMPT_CHARS: '20000' }, { repositories: join(remote.path, 'repos') });
});
afterAll(async () => {
  await fx?.close();
  await redis?.stop();
  await remote?.remove();
});

describe("a repository's autofix settings", () => {
  it('are read from the default branch only: a pull request cannot turn them on for itself', async () => {
    await commitTo('agentq/sneaky', { '.agentq.yml': 'autofix:\n  ci: true\n  maxAttempts: 20\n' });
    const number = await agentqPull('agentq/sneaky', sha());
    const before = await queueSnapshot(fx);
    const res = await deliver(fx, 'check_suite', checkSuiteCompleted(fx.fake.checkRuns.at(-1)?.headSha as string, [number]));
    expect(res.json()).toEqual({ ignored: 'automatic CI fixes are off for this repository' });
    expect(await queueSnapshot(fx)).toEqual(before);
    // the file was asked for without a ref: the default branch
    const reads = fx.fake.calls.filter((c) => c.path.endsWith('/contents/.agentq.yml'));
    expect(reads.length).toBeGreaterThan(0);
  });

  it('turn the loop on from the default branch, over the service setting, with a lower cap', async () => {
    await commitTo('main', { '.agentq.yml': 'autofix:\n  ci: true\n  maxAttempts: 1\n' });
    const first = sha();
    const number = await agentqPull('agentq/fix', first);
    const res = await deliver(fx, 'check_suite', checkSuiteCompleted(first, [number]));
    expect(res.statusCode).toBe(202);
    const task = await fx.store.require(res.json<{ taskId: string }>().taskId);
    expect(task.trigger).toMatchObject({ kind: 'ci_failure', attempt: 1, checks: [{ name: 'build', conclusion: 'failure', url: expect.stringContaining('/runs/') }] });
    // a check of another CI: its output, no Actions log
    expect(task.prompt).toContain('error TS2304');
    for (const state of ['starting', 'running', 'succeeded'] as const) await fx.store.transition(task.id, state);
    const next = sha();
    fx.fake.setPull(REPO, number, { headSha: next });
    fx.fake.addCheckRun(REPO, { headSha: next, name: 'build', conclusion: 'timed_out', appSlug: 'ci-example' });
    const capped = await deliver(fx, 'check_suite', checkSuiteCompleted(next, [number]));
    expect(capped.json()).toEqual({ ignored: 'the cap of 1 automatic follow-ups is reached' });
    expect(fx.fake.commentsOn(REPO, number)).toHaveLength(1);
  });
});
