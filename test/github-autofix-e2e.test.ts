import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, type TaskRecord } from '@agentq/shared';
import { checkSuiteCompleted, issueComment, pullRequestReview, waitFor } from '@agentq/shared/testing';
import { startGitHubStack, type GitHubStack } from './support/github-stack.js';

const REPO = 'octo/widgets';
const WRITER = 'wanda';
const AGENT = join(import.meta.dirname, 'fixtures', 'ci-fix-agent.sh');

describe('the pull-request loop of an agentq pull request, end to end, three services as processes', () => {
  let gh: GitHubStack;

  beforeAll(async () => {
    gh = await startGitHubStack({
      appId: 778,
      repo: REPO,
      installation: 56,
      webhookSecret: 'e2e-autofix-webhook-secret',
      writer: WRITER,
      env: { AGENTQ_HARNESS: 'command', AGENTQ_HARNESS_COMMAND: `bash ${AGENT}`, AGENTQ_GITHUB_AUTOFIX_CI: 'true', AGENTQ_GITHUB_AUTOFIX_REVIEWS: 'true' },
    });
  }, 60_000);
  afterAll(async () => {
    await gh?.stop();
  });

  const ended = (id: string) =>
    waitFor(
      async () => {
        const t = (await (await gh.stack.api(`/v1/tasks/${id}`)).json()) as TaskRecord;
        return ['succeeded', 'failed', 'canceled', 'timed_out'].includes(t.state) ? t : undefined;
      },
      { timeoutMs: 45_000, intervalMs: 100, what: `task ${id} to end` },
    );

  it('gets one follow-up that sees the failing log and pushes a fix to the same branch', async () => {
    const res = await gh.deliver('issue_comment', issueComment(7, '/agent add answer.js', { repo: REPO, login: WRITER, commentId: 7001 }));
    expect(res.status).toBe(202);
    const parent = await ended(((await res.json()) as { taskId: string }).taskId);
    expect(parent.state).toBe('succeeded');
    expect(gh.fake.pulls).toHaveLength(1);
    const pull = gh.fake.pulls[0];
    const branch = parent.branch as string;
    expect(pull?.head).toBe(branch);
    const head = (await git(['rev-parse', branch], { cwd: gh.bare })).stdout.trim();

    // the first CI run of the pull request fails in its test step
    gh.fake.addCheckRun(REPO, {
      headSha: head,
      name: 'test',
      conclusion: 'failure',
      output: { title: 'Process completed with exit code 1.' },
      steps: [
        { name: 'Set up job', number: 1, status: 'completed', conclusion: 'success' },
        { name: 'Run npm test', number: 2, status: 'completed', conclusion: 'failure' },
      ],
      log: '2024-05-01T10:00:00.0000000Z > npm test\n2024-05-01T10:00:01.0000000Z AssertionError: expected answer to be 3, got 2\n',
    });
    const signal = await gh.deliver('check_suite', checkSuiteCompleted(head, [pull?.number as number], { repo: REPO }));
    expect(signal.status).toBe(202);
    const followUpId = ((await signal.json()) as { taskId: string }).taskId;
    // the commit's checks delivered again: nothing more
    const again = await gh.deliver('check_suite', checkSuiteCompleted(head, [pull?.number as number], { repo: REPO }));
    expect(again.status).toBe(200);

    const followUp = await ended(followUpId);
    expect(followUp).toMatchObject({
      state: 'succeeded',
      followUpOf: parent.id,
      branch,
      trigger: { kind: 'ci_failure', pullNumber: pull?.number, headSha: head, attempt: 1, checks: [{ name: 'test', conclusion: 'failure' }] },
    });
    // the agent saw the failing step and the log in its prompt (it echoed it into the transcript)
    const transcript = await (await gh.stack.api(`/v1/tasks/${followUpId}/events?format=jsonl`)).text();
    expect(transcript).toContain('AssertionError: expected answer to be 3, got 2');
    expect(transcript).toContain('2. Run npm test (failure)');
    // the fix is on the same branch, and no second pull request was opened
    const fixed = (await git(['show', `${branch}:answer.js`], { cwd: gh.bare })).stdout;
    expect(fixed).toContain('answer = 3');
    expect((await git(['rev-parse', branch], { cwd: gh.bare })).stdout.trim()).not.toBe(head);
    expect(gh.fake.pulls).toHaveLength(1);
    const all = (await (await gh.stack.api('/v1/tasks?limit=50')).json()) as { tasks: TaskRecord[] };
    expect(all.tasks.filter((t) => t.trigger !== undefined)).toHaveLength(1);
  });

  it('answers a change request: both inline comments get a reply, the pull request one summary', async () => {
    const pull = gh.fake.pulls[0];
    expect(pull).toBeDefined();
    const number = pull?.number as number;
    const branch = pull?.head as string;
    const before = (await git(['rev-parse', branch], { cwd: gh.bare })).stdout.trim();
    const review = gh.fake.addReview(REPO, number, {
      state: 'CHANGES_REQUESTED',
      user: WRITER,
      body: 'Two things.',
      comments: [
        { path: 'answer.js', line: 1, body: 'The answer should be 4.' },
        { path: 'answer.js', line: 1, body: 'And say why in the commit.' },
      ],
    });
    const res = await gh.deliver('pull_request_review', pullRequestReview(number, review.id, { repo: REPO, login: WRITER, body: 'Two things.' }));
    expect(res.status).toBe(202);
    const followUp = await ended(((await res.json()) as { taskId: string }).taskId);
    const ids = review.comments.map((c) => c.id);
    expect(followUp).toMatchObject({
      state: 'succeeded',
      branch,
      trigger: { kind: 'changes_requested', pullNumber: number, reviewId: review.id, reviewer: WRITER, comments: ids.map((id) => ({ id, path: 'answer.js', line: 1 })) },
    });
    expect((await git(['show', `${branch}:answer.js`], { cwd: gh.bare })).stdout).toContain('answer = 4');
    expect((await git(['rev-parse', branch], { cwd: gh.bare })).stdout.trim()).not.toBe(before);

    // one reply per inline comment, in its thread; nothing for the id that is not the review's
    await waitFor(() => ids.every((id) => gh.fake.repliesTo(id).length === 1), { timeoutMs: 10_000, what: 'the replies' });
    for (const id of ids) expect(gh.fake.repliesTo(id)[0]?.body).toContain(`changed the answer for comment ${id}`);
    expect(gh.fake.repliesTo(1)).toEqual([]);
    // and one comment on the pull request with the summary, without the reply lines
    const onPull = gh.fake.comments.filter((c) => c.issueNumber === number && c.body.includes('addressed the review'));
    expect(onPull).toHaveLength(1);
    expect(onPull[0]?.body).not.toContain('[reply');
    expect(gh.fake.pulls).toHaveLength(1);
  });
});
