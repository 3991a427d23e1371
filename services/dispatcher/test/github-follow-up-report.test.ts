import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRedis, type FakeGitHub, type TestRedis } from '@agentq/shared/testing';
import { REDACTED, type AgentEvent, type TaskRecord, type TaskTrigger } from '@agentq/shared';
import { startDispatcherFixture, type DispatcherFixture } from './support/dispatcher-fixture.js';
import { git } from './support/git.js';
import { serveGitHubRepo, type ServedGitHubRepo } from './support/github-repo.js';

const REPO = 'octo/gadgets';
const INSTALLATION = 78;
/** A sandbox secret the agent prints in its answers. */
const SECRET = 'sk-live-Zq81+Kw7pX0aLm3/Ty6v';

/**
 * An agent whose final message is what the prompt says after `FINAL MESSAGE:` (with `{{secret}}`
 * replaced by the sandbox secret). `EDIT` in the prompt makes it change a file, `FAIL` makes it fail.
 */
const AGENT = `import { writeFileSync } from 'node:fs';
const prompt = process.env.AGENTQ_PROMPT ?? '';
const [instructions = '', final = ''] = prompt.split('FINAL MESSAGE:\\n');
if (instructions.includes('EDIT')) writeFileSync('FIX.md', 'fixed by ' + process.env.AGENTQ_TASK_ID + '\\n');
const result = final.split('{{secret}}').join(process.env.LEAKY_KEY ?? '');
const fail = instructions.includes('FAIL');
console.log(JSON.stringify({ type: 'result', subtype: fail ? 'error_max_turns' : 'success', is_error: fail, num_turns: 3, total_cost_usd: 0.42, duration_ms: 10, result, session_id: 'cmd-session', ...(fail ? { errors: ['ran out of turns'] } : {}) }));
`;

function systemLogs(events: AgentEvent[]): string[] {
  return events.flatMap((e) => (e.kind === 'log' && e.stream === 'system' ? [e.text] : []));
}

describe('automatic follow-ups report on their pull request', () => {
  let redis: TestRedis;
  let fake: FakeGitHub;
  let root: ServedGitHubRepo['root'];
  let fx: DispatcherFixture;
  let bare: string;
  let parent: TaskRecord;
  let repoServer: ServedGitHubRepo;

  beforeAll(async () => {
    redis = await startTestRedis();
    repoServer = await serveGitHubRepo({ repo: REPO, appId: 4243, installation: INSTALLATION, tempPrefix: 'agentq-gh-report-' });
    ({ fake, root, bare } = repoServer);
    const agent = join(root.path, 'agent.mjs');
    await writeFile(agent, AGENT);
    fx = await startDispatcherFixture(redis.url, {
      ...repoServer.env,
      AGENTQ_HARNESS: 'command',
      AGENTQ_HARNESS_COMMAND: `node '${agent}'`,
      AGENTQ_SANDBOX_ENV: 'LEAKY_KEY',
      LEAKY_KEY: SECRET,
    });
    // the task whose pull request the follow-ups continue
    const parentId = await fx.submit({ repo: REPO, prompt: 'EDIT add a FIX.md\nFINAL MESSAGE:\nAdded FIX.md.' }, { source: 'github' });
    parent = await fx.waitFinal(parentId, 20_000);
    expect(parent.state, JSON.stringify(parent.error)).toBe('succeeded');
    expect(parent.prNumber).toBeDefined();
  }, 40_000);

  afterAll(async () => {
    await fx?.close();
    await repoServer?.stop();
    await redis?.stop();
  });

  const pullNumber = () => parent.prNumber as number;
  const commentsOn = (number: number, after: number) => fake.comments.filter((c) => c.repo === REPO && c.issueNumber === number && c.id > after);
  const lastId = () => Math.max(0, ...fake.comments.map((c) => c.id), ...fake.reviewComments.map((c) => c.id));

  /** Runs an automatic follow-up of the parent's pull request, as the ingress creates it. */
  async function followUp(prompt: string, trigger: TaskTrigger): Promise<TaskRecord> {
    const id = await fx.submit(
      { repo: REPO, prompt },
      { source: 'github', followUpOf: parent.id, github: { issueNumber: trigger.pullNumber, isPullRequest: true }, trigger },
    );
    return fx.waitFinal(id, 20_000);
  }

  it('answers each inline comment of the review it was given, and no other, then posts one summary without the reply lines', async () => {
    const pr = pullNumber();
    const first = fake.addReviewComment(REPO, pr, { path: 'README.md', line: 1, body: 'Say what a gadget is.', user: 'alice' });
    const second = fake.addReviewComment(REPO, pr, { path: 'FIX.md', body: 'Needs a test.', user: 'alice' });
    // on the same pull request, but not part of the review: the agent may not answer it
    const other = fake.addReviewComment(REPO, pr, { path: 'FIX.md', line: 1, body: 'An older remark.', user: 'bob' });
    const since = lastId();
    const trigger: TaskTrigger = {
      kind: 'changes_requested',
      pullNumber: pr,
      reviewId: 7001,
      url: `https://github.com/${REPO}/pull/${pr}#pullrequestreview-7001`,
      reviewer: 'alice',
      comments: [{ id: first, path: 'README.md', line: 1 }, { id: second, path: 'FIX.md' }],
      attempt: 1,
    };
    const final = [
      'EDIT as the review asks',
      'FINAL MESSAGE:',
      'Explained gadgets and added a test. The key is {{secret}}.',
      `[reply ${first}] Added a sentence on what a gadget is.`,
      `[reply ${second}] Added the test, run with key {{secret}}.`,
      `[reply ${other}] Also changed your older remark.`,
      '[reply 424242] Answered a comment that does not exist.',
    ].join('\n');
    const task = await followUp(final, trigger);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect(task.branch).toBe(parent.branch);
    expect(task.prNumber).toBe(pr);
    expect(task.commit).toBeDefined();
    expect(git(['rev-parse', task.branch ?? 'missing'], bare).trim()).toBe(task.commit);

    // one reply in the thread of each of the review's comments, redacted, by the App's bot
    const one = fake.repliesTo(first);
    const two = fake.repliesTo(second);
    expect(one).toHaveLength(1);
    expect(two).toHaveLength(1);
    expect(one[0]).toMatchObject({ pullNumber: pr, user: fake.botLogin });
    expect(one[0]?.body).toContain('Added a sentence on what a gadget is.');
    expect(one[0]?.body).toContain(`\`${task.commit?.slice(0, 7)}\``);
    expect(two[0]?.body).toContain(`Added the test, run with key ${REDACTED}.`);
    // none for a comment outside the review, none for an id that is no comment
    expect(fake.repliesTo(other)).toEqual([]);
    expect(fake.calls.some((c) => c.path.endsWith('/comments/424242/replies'))).toBe(false);
    expect(fake.calls.filter((c) => c.path.endsWith('/replies') && c.method === 'POST')).toHaveLength(2);

    // one comment on the pull request: the cause, the summary without the reply lines, the commit, cost and transcript
    const comments = commentsOn(pr, since);
    expect(comments).toHaveLength(1);
    const body = comments[0]?.body ?? '';
    expect(body).toContain('answering the review of @alice (attempt 1)');
    expect(body).toContain(`[The review](${trigger.url})`);
    expect(body).toContain('replied to 2 of 2 inline comments');
    expect(body).toContain(`Explained gadgets and added a test. The key is ${REDACTED}.`);
    expect(body).not.toContain('[reply');
    expect(body).toContain(`pushed \`${task.commit?.slice(0, 7)}\` to \`${task.branch}\``);
    expect(body).toContain('**Cost:** $0.42');
    expect(body).toMatch(new RegExp(`\\[task ${task.id}\\]\\(http[^)]+/tasks/${task.id}\\?key=`));
    for (const text of [body, ...one.map((c) => c.body), ...two.map((c) => c.body)]) expect(text).not.toContain(SECRET);
  }, 30_000);

  it('names the failing checks and the commit it pushed, in one comment', async () => {
    const pr = pullNumber();
    const since = lastId();
    const replies = fake.reviewComments.length;
    const headSha = git(['rev-parse', parent.branch ?? 'missing'], bare).trim();
    const trigger: TaskTrigger = {
      kind: 'ci_failure',
      pullNumber: pr,
      headSha,
      url: `https://github.com/${REPO}/runs/11`,
      checks: [
        { name: 'build', conclusion: 'failure', url: `https://github.com/${REPO}/runs/11` },
        { name: 'lint [node 20]', conclusion: 'timed_out', url: `https://github.com/${REPO}/runs/12` },
      ],
      attempt: 2,
    };
    const task = await followUp('EDIT fix the build\nFINAL MESSAGE:\nFixed the build.\n[reply 1] not a review: ignored', trigger);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    const comments = commentsOn(pr, since);
    expect(comments).toHaveLength(1);
    const body = comments[0]?.body ?? '';
    expect(body).toContain('fixing failing checks: build, lint \\[node 20\\] (attempt 2)');
    expect(body).toContain(`Failing checks on \`${headSha.slice(0, 7)}\`: [build](https://github.com/${REPO}/runs/11) (failure), [lint \\[node 20\\]](https://github.com/${REPO}/runs/12) (timed\\_out)`);
    expect(body).toContain('Fixed the build.');
    expect(body).toContain(`pushed \`${task.commit?.slice(0, 7)}\` to \`${parent.branch}\``);
    expect(fake.reviewComments.length).toBe(replies);
  }, 30_000);

  it('reports a run that failed or changed nothing, and posts no replies for a failed one', async () => {
    const pr = pullNumber();
    const comment = fake.addReviewComment(REPO, pr, { path: 'README.md', body: 'Typo.', user: 'alice' });
    const since = lastId();
    const review: TaskTrigger = { kind: 'changes_requested', pullNumber: pr, reviewId: 7002, url: `https://github.com/${REPO}/pull/${pr}#pullrequestreview-7002`, reviewer: 'alice', comments: [{ id: comment, path: 'README.md' }], attempt: 2 };
    const failed = await followUp(`FAIL\nFINAL MESSAGE:\nGave up.\n[reply ${comment}] Fixed the typo.`, review);
    expect(failed.state).toBe('failed');
    expect(failed.error?.code).toBe('DISPATCH_AGENT_FAILED');
    expect(fake.repliesTo(comment)).toEqual([]);
    const afterFail = commentsOn(pr, since);
    expect(afterFail).toHaveLength(1);
    expect(afterFail[0]?.body).toContain('**Result:** failed: `DISPATCH_AGENT_FAILED`');
    expect(afterFail[0]?.body).toContain('replied to 0 of 1 inline comment');

    const since2 = lastId();
    const checks: TaskTrigger = { kind: 'ci_failure', pullNumber: pr, headSha: 'a'.repeat(40), url: `https://github.com/${REPO}/runs/21`, checks: [{ name: 'test', conclusion: 'failure', url: `https://github.com/${REPO}/runs/21` }], attempt: 3 };
    const unchanged = await followUp('look only\nFINAL MESSAGE:\nThe failure is a flaky runner; nothing to change.', checks);
    expect(unchanged.state).toBe('succeeded');
    expect(unchanged.noChanges).toBe(true);
    const afterUnchanged = commentsOn(pr, since2);
    expect(afterUnchanged).toHaveLength(1);
    expect(afterUnchanged[0]?.body).toContain('**Result:** no changes: nothing was pushed');
    expect(afterUnchanged[0]?.body).toContain('The failure is a flaky runner; nothing to change.');
  }, 40_000);

  it('keeps the outcome when the comment cannot be posted, and says why in the task log', async () => {
    // a pull request that is not there: GitHub refuses the comment
    const trigger: TaskTrigger = { kind: 'ci_failure', pullNumber: 9999, headSha: 'b'.repeat(40), url: `https://github.com/${REPO}/runs/31`, checks: [], attempt: 1 };
    const since = lastId();
    const task = await followUp('EDIT again\nFINAL MESSAGE:\nDone.', trigger);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect(task.error).toBeUndefined();
    expect(commentsOn(9999, since)).toEqual([]);
    expect(systemLogs(await fx.events(task.id))).toContainEqual(expect.stringMatching(/^could not comment on pull request #9999: /));
    expect(fx.logs.join('')).toContain('could not post on the pull request');
  }, 30_000);

  // last: it leaves an invalid .agentq.yml on the pull request's branch
  it('says on the pull request why a follow-up could not start', async () => {
    const work = join(root.path, 'edit');
    git(['clone', '--quiet', '--branch', parent.branch ?? 'missing', bare, work], root.path);
    await writeFile(join(work, '.agentq.yml'), 'harness: 42\nsurprise: true\n');
    git(['add', '-A'], work);
    git(['-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '--quiet', '-m', 'break the settings'], work);
    git(['push', '--quiet', 'origin', `HEAD:${parent.branch ?? 'missing'}`], work);
    const since = lastId();
    const pr = pullNumber();
    const trigger: TaskTrigger = { kind: 'ci_failure', pullNumber: pr, headSha: 'd'.repeat(40), url: `https://github.com/${REPO}/runs/41`, checks: [{ name: 'build', conclusion: 'failure', url: `https://github.com/${REPO}/runs/41` }], attempt: 1 };
    const task = await followUp('EDIT\nFINAL MESSAGE:\nnever runs', trigger);
    expect(task.state).toBe('failed');
    expect(task.error?.code).toBe('DISPATCH_REPO_CONFIG_INVALID');
    expect(task.sandboxId).toBeUndefined();
    const comments = commentsOn(pr, since);
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toContain('fixing failing checks: build (attempt 1)');
    expect(comments[0]?.body).toContain('**Result:** failed: `DISPATCH_REPO_CONFIG_INVALID` .agentq.yml');
  }, 30_000);
});
