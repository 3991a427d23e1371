import { createHash, randomUUID } from 'node:crypto';
import { reviewReplyInstructions, type TaskRecord } from '@agentq/shared';
import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  READER,
  REPO,
  WRITER,
  checkRunCompleted,
  checkSuiteCompleted,
  deliver,
  freshNumber,
  issueComment,
  pullRequestClosed,
  pullRequestLabeled,
  pullRequestReview,
  pullRequestSynchronize,
  startGitHubIngress,
  workflowRunCompleted,
  type GitHubFixture,
} from './github-fixture.js';
import { queueSnapshot } from './ingress-fixture.js';

const HANDS_OFF = 'agentq:hands-off';

let redis: TestRedis;
let fx: GitHubFixture;

beforeAll(async () => {
  redis = await startTestRedis();
  fx = await startGitHubIngress(redis.url, {
    AGENTQ_GITHUB_AUTOFIX_CI: 'true',
    AGENTQ_GITHUB_AUTOFIX_REVIEWS: 'true',
    AGENTQ_GITHUB_MAX_FIX_ATTEMPTS: '3',
    AGENTQ_GITHUB_CI_LOG_BYTES: '3000',
    AGENTQ_MAX_PROMPT_CHARS: '20000',
  });
});
afterAll(async () => {
  await fx?.close();
  await redis?.stop();
});

const sha = (seed: string) => createHash('sha1').update(seed).digest('hex');

async function end(id: string): Promise<void> {
  for (const state of ['starting', 'running', 'succeeded'] as const) await fx.store.transition(id, state);
}

/** An ended task that opened pull request `number` at `headSha` (as the dispatcher records it). */
async function agentqPull(headSha: string): Promise<{ number: number; parent: TaskRecord }> {
  const number = freshNumber();
  const res = await deliver(fx, 'issue_comment', issueComment(freshNumber(), '/agent write the docs'));
  expect(res.statusCode).toBe(202);
  const { taskId } = res.json<{ taskId: string }>();
  await end(taskId);
  await fx.redis.set(fx.keys.githubPull(REPO, number), taskId);
  fx.fake.addPull(REPO, { number, head: `agentq/${taskId.slice(0, 8)}-docs`, base: 'main', user: fx.fake.botLogin, headSha });
  return { number, parent: await fx.store.require(taskId) };
}

/** A failing Actions job with a failing step and a log, and a passing check, on a commit. */
function failingRun(headSha: string, error = 'AssertionError: expected 2 to be 3'): void {
  fx.fake.addCheckRun(REPO, {
    headSha,
    name: 'test (node 20)',
    conclusion: 'failure',
    output: { title: '1 test failed', summary: 'parser.test.ts failed' },
    steps: [
      { name: 'Set up job', number: 1, status: 'completed', conclusion: 'success' },
      { name: 'Run npm test', number: 2, status: 'completed', conclusion: 'failure' },
    ],
    log: `${'2024-05-01T10:00:00.0000000Z installing dependencies\n'.repeat(400)}2024-05-01T10:00:01.0000000Z \u001b[31mFAIL\u001b[0m parser.test.ts\u0000\n2024-05-01T10:00:01.0000000Z ${error}\n`,
  });
  fx.fake.addCheckRun(REPO, { headSha, name: 'lint', conclusion: 'success' });
}

async function tasksOf(number: number): Promise<TaskRecord[]> {
  const ids = await fx.redis.smembers(fx.keys.githubAutofixTasks(REPO, number));
  const tasks = await Promise.all(ids.map((id) => fx.store.require(id)));
  return tasks.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

describe('automatic follow-ups of failing CI', () => {
  it('starts one follow-up for the first failing run, with the failing step and the end of its log in the prompt', async () => {
    const head = sha(randomUUID());
    const { number, parent } = await agentqPull(head);
    failingRun(head);
    const res = await deliver(fx, 'check_suite', checkSuiteCompleted(head, [number]));
    expect(res.statusCode).toBe(202);
    const record = await fx.store.require(res.json<{ taskId: string }>().taskId);
    expect(record).toMatchObject({
      source: 'github',
      forge: 'github',
      state: 'queued',
      followUpOf: parent.id,
      github: { issueNumber: number, isPullRequest: true },
      trigger: { kind: 'ci_failure', pullNumber: number, headSha: head, attempt: 1, checks: [{ name: 'test (node 20)', conclusion: 'failure' }] },
    });
    expect(record.after).toBeUndefined();
    expect(record.trigger?.url).toContain('/actions/runs/');
    const prompt = record.prompt;
    expect(prompt).toContain('test (node 20) (failure)');
    expect(prompt).toContain('2. Run npm test (failure)');
    expect(prompt).toContain('1 test failed');
    expect(prompt).toContain('AssertionError: expected 2 to be 3');
    // the failing step is named before the log; the log's end is kept, cleaned, within the budget
    expect(prompt.indexOf('Run npm test')).toBeLessThan(prompt.indexOf('AssertionError'));
    expect(prompt).not.toContain('\u001b');
    expect(prompt).not.toContain('\u0000');
    expect(prompt).not.toContain('2024-05-01T10');
    expect(prompt).not.toContain('lint');
    expect(Buffer.byteLength(prompt)).toBeLessThan(3000 + 1500);
    expect(prompt).toMatch(/```text\n…\n/);
    // the checks were read with a token for this repository that may read checks and Actions
    const token = fx.fake.tokenRequests.at(-1);
    expect(token?.repositories).toEqual(['widgets']);
    expect(token?.permissions).toMatchObject({ checks: 'read', actions: 'read' });
    // the log came through GitHub's redirect to its download URL
    expect(fx.fake.calls.some((c) => c.path.startsWith('/_downloads/jobs/') && c.status === 200)).toBe(true);
    expect(await tasksOf(number)).toHaveLength(1);
  });

  it('waits for every check of the commit and starts one follow-up whatever the order and number of deliveries', async () => {
    const head = sha(randomUUID());
    const { number } = await agentqPull(head);
    failingRun(head);
    const slow = fx.fake.addCheckRun(REPO, { headSha: head, name: 'e2e' });
    const early = await deliver(fx, 'check_run', checkRunCompleted(head, [number], { name: 'test (node 20)' }), { deliveryId: 'run-early' });
    expect(early.json()).toEqual({ ignored: '1 check is still running' });
    expect(await tasksOf(number)).toHaveLength(0);

    fx.fake.completeCheckRun(slow.id, 'success');
    const last = await deliver(fx, 'check_run', checkRunCompleted(head, [number], { name: 'e2e', conclusion: 'success' }), { deliveryId: 'run-last' });
    expect(last.statusCode).toBe(202);
    const { taskId } = last.json<{ taskId: string }>();
    const before = await queueSnapshot(fx);
    const again = [
      await deliver(fx, 'check_run', checkRunCompleted(head, [number], { name: 'e2e', conclusion: 'success' }), { deliveryId: 'run-last' }),
      await deliver(fx, 'workflow_run', workflowRunCompleted(head, [number])),
      await deliver(fx, 'check_suite', checkSuiteCompleted(head, [number])),
      await deliver(fx, 'check_run', checkRunCompleted(head, [number], { name: 'test (node 20)' }), { deliveryId: 'run-early' }),
    ];
    expect(again[0]?.statusCode).toBe(200);
    expect(again[0]?.json()).toEqual({ taskId });
    for (const res of again.slice(1)) expect(res.json()).toEqual({ ignored: 'a task of the pull request is queued or running' });
    await end(taskId);
    const afterEnd = await deliver(fx, 'check_suite', checkSuiteCompleted(head, [number]));
    expect(afterEnd.json()).toEqual({ ignored: 'already followed up' });
    expect(await queueSnapshot(fx)).toEqual(before);
    expect(await tasksOf(number)).toHaveLength(1);
  });

  it('stops at the cap with one comment, and starts again after a person pushes', async () => {
    const first = sha(randomUUID());
    const { number } = await agentqPull(first);
    let head = first;
    for (let attempt = 1; attempt <= 3; attempt++) {
      failingRun(head, `Error number ${attempt}`);
      const res = await deliver(fx, 'check_suite', checkSuiteCompleted(head, [number]));
      expect(res.statusCode).toBe(202);
      const task = await fx.store.require(res.json<{ taskId: string }>().taskId);
      expect(task.trigger).toMatchObject({ kind: 'ci_failure', attempt, headSha: head });
      expect(task.prompt).toContain(`Error number ${attempt}`);
      await end(task.id);
      // the follow-up pushed a new commit
      head = sha(randomUUID());
      fx.fake.setPull(REPO, number, { headSha: head });
    }
    const before = await queueSnapshot(fx);
    failingRun(head, 'Error number 4');
    const capped = await deliver(fx, 'check_suite', checkSuiteCompleted(head, [number]));
    expect(capped.json()).toEqual({ ignored: 'the cap of 3 automatic follow-ups is reached' });
    await deliver(fx, 'workflow_run', workflowRunCompleted(head, [number]));
    const stopped = fx.fake.commentsOn(REPO, number);
    expect(stopped).toHaveLength(1);
    expect(stopped[0]?.body).toContain('agentq stopped');
    expect(stopped[0]?.body).toContain('[test (node 20)](https://github.com/octo/widgets/actions/runs/');
    expect(await queueSnapshot(fx)).toEqual(before);

    // a bot's push does not reset; a person's push does
    const botPush = await deliver(fx, 'pull_request', pullRequestSynchronize(number, head, { login: fx.fake.botLogin, userType: 'Bot' }));
    expect(botPush.json()).toEqual({ ignored: 'pushed by a bot' });
    const pushed = await deliver(fx, 'pull_request', pullRequestSynchronize(number, head, { login: WRITER }));
    expect(pushed.json()).toEqual({ handled: 'attempts reset' });
    const res = await deliver(fx, 'check_suite', checkSuiteCompleted(head, [number]));
    expect(res.statusCode).toBe(202);
    expect((await fx.store.require(res.json<{ taskId: string }>().taskId)).trigger).toMatchObject({ attempt: 1 });
    expect(fx.fake.commentsOn(REPO, number)).toHaveLength(1);
  });

  it('a comment by a person starts the attempts again too, and the /agent comment still works', async () => {
    const head = sha(randomUUID());
    const { number, parent } = await agentqPull(head);
    await fx.redis.hset(fx.keys.githubAutofix(REPO, number), 'attempts', '3', 'stopped', '1');
    const res = await deliver(fx, 'issue_comment', issueComment(number, '/agent also update the README', { pullRequest: true }));
    expect(res.statusCode).toBe(202);
    expect(await fx.store.require(res.json<{ taskId: string }>().taskId)).toMatchObject({ followUpOf: parent.id });
    expect(await fx.redis.hgetall(fx.keys.githubAutofix(REPO, number))).toEqual({});
    // that task is the pull request's latest: checks concluding meanwhile start nothing
    failingRun(head);
    expect((await deliver(fx, 'check_suite', checkSuiteCompleted(head, [number]))).json()).toEqual({ ignored: 'a task of the pull request is queued or running' });
  });

  it('starts nothing for a fork, a commit that is no longer the head, a pull request agentq did not open, or one labeled hands-off', async () => {
    const head = sha(randomUUID());
    const fork = await agentqPull(head);
    fx.fake.setPull(REPO, fork.number, { headRepo: 'stranger/widgets' });
    const stale = await agentqPull(sha(randomUUID()));
    const other = freshNumber();
    fx.fake.addPull(REPO, { number: other, head: 'feature/x', base: 'main', user: WRITER, headSha: head });
    const labeled = await agentqPull(head);
    fx.fake.setPull(REPO, labeled.number, { labels: [HANDS_OFF] });
    failingRun(head);
    const before = await queueSnapshot(fx);
    const answers = [];
    for (const number of [fork.number, stale.number, other, labeled.number]) {
      const res = await deliver(fx, 'check_suite', checkSuiteCompleted(head, [number]));
      expect(res.statusCode).toBe(200);
      answers.push(res.json<{ ignored: string }>().ignored);
    }
    expect(answers).toEqual([
      'pull request from a fork',
      'the commit is no longer the head of the pull request',
      'not an agentq pull request',
      'pull request labeled hands-off',
    ]);
    expect((await deliver(fx, 'check_suite', checkSuiteCompleted(head, []))).json()).toEqual({ ignored: 'no pull request of this repository has this commit as its head' });
    expect(await queueSnapshot(fx)).toEqual(before);
  });

  it('cancels queued automatic follow-ups when the pull request is labeled hands-off or closed', async () => {
    for (const stop of ['label', 'close'] as const) {
      const head = sha(randomUUID());
      const { number } = await agentqPull(head);
      failingRun(head);
      const res = await deliver(fx, 'check_suite', checkSuiteCompleted(head, [number]));
      const { taskId } = res.json<{ taskId: string }>();
      const other = await deliver(fx, 'pull_request', pullRequestLabeled(number, 'bug'));
      expect(other.json()).toEqual({ ignored: 'not the hands-off label' });
      const stopped = stop === 'label' ? await deliver(fx, 'pull_request', pullRequestLabeled(number, HANDS_OFF)) : await deliver(fx, 'pull_request', pullRequestClosed(number));
      expect(stopped.statusCode).toBe(200);
      expect(stopped.json<{ handled: string }>().handled).toMatch(/: 1 automatic follow-up canceled$/);
      expect((await fx.store.require(taskId)).state).toBe('canceled');
      expect(await fx.queue.getJob(taskId)).toBeUndefined();
      // and none start while it stays so
      fx.fake.setPull(REPO, number, stop === 'label' ? { labels: [HANDS_OFF] } : { state: 'closed' });
      const later = await deliver(fx, 'check_suite', checkSuiteCompleted(head, [number]));
      expect(later.json()).toEqual({ ignored: stop === 'label' ? 'pull request labeled hands-off' : 'pull request not open' });
    }
  });
});

describe('automatic follow-ups of change requests', () => {
  it('starts a follow-up with the review and both inline comments, waiting for the running task', async () => {
    const head = sha(randomUUID());
    const { number, parent } = await agentqPull(head);
    const running = await deliver(fx, 'issue_comment', issueComment(number, '/agent add a changelog entry', { pullRequest: true }));
    const runningId = running.json<{ taskId: string }>().taskId;
    await fx.store.transition(runningId, 'starting');
    await fx.store.transition(runningId, 'running');
    const review = fx.fake.addReview(REPO, number, {
      state: 'CHANGES_REQUESTED',
      user: WRITER,
      body: 'Two things before this can go in.',
      comments: [
        { path: 'src/parser.ts', line: 12, body: 'Rename `tmp` to something meaningful.' },
        { path: 'README.md', line: 3, body: 'Document the new flag.' },
      ],
    });
    const payload = pullRequestReview(number, review.id, { state: 'CHANGES_REQUESTED', body: review.body });
    const res = await deliver(fx, 'pull_request_review', payload, { deliveryId: `review-${review.id}` });
    expect(res.statusCode).toBe(202);
    const record = await fx.store.require(res.json<{ taskId: string }>().taskId);
    const [one, two] = review.comments;
    expect(record).toMatchObject({
      followUpOf: parent.id,
      after: runningId,
      github: { issueNumber: number, isPullRequest: true },
      trigger: {
        kind: 'changes_requested',
        pullNumber: number,
        reviewId: review.id,
        reviewer: WRITER,
        attempt: 1,
        comments: [
          { id: one?.id, path: 'src/parser.ts', line: 12 },
          { id: two?.id, path: 'README.md', line: 3 },
        ],
      },
    });
    expect(record.trigger?.url).toContain(`#pullrequestreview-${review.id}`);
    expect(record.prompt).toContain('Two things before this can go in.');
    expect(record.prompt).toContain(`Comment ${one?.id} on src/parser.ts line 12`);
    expect(record.prompt).toContain('Rename `tmp` to something meaningful.');
    expect(record.prompt).toContain(`Comment ${two?.id} on README.md line 3`);
    expect(record.prompt).toContain('Document the new flag.');
    expect(record.prompt.trimEnd().endsWith(reviewReplyInstructions())).toBe(true);
    // redelivered, or delivered again under another id: still one follow-up
    const before = await queueSnapshot(fx);
    expect((await deliver(fx, 'pull_request_review', payload, { deliveryId: `review-${review.id}` })).json()).toEqual({ taskId: record.id });
    expect((await deliver(fx, 'pull_request_review', payload)).json()).toEqual({ ignored: 'already followed up' });
    expect(await queueSnapshot(fx)).toEqual(before);
  });

  it('starts nothing for a reviewer without write access, a review that does not request changes, or a bot', async () => {
    const { number } = await agentqPull(sha(randomUUID()));
    const before = await queueSnapshot(fx);
    const review = fx.fake.addReview(REPO, number, { state: 'CHANGES_REQUESTED', user: READER, comments: [{ path: 'a.ts', line: 1, body: 'delete everything' }] });
    const answers = [
      await deliver(fx, 'pull_request_review', pullRequestReview(number, review.id, { login: READER })),
      await deliver(fx, 'pull_request_review', pullRequestReview(number, review.id, { state: 'approved' })),
      await deliver(fx, 'pull_request_review', pullRequestReview(number, review.id, { login: 'ci-helper[bot]', userType: 'Bot' })),
    ].map((r) => r.json<{ ignored: string }>().ignored);
    expect(answers).toEqual(['the reviewer has no write access', 'the review does not request changes', 'review by a bot']);
    expect(await queueSnapshot(fx)).toEqual(before);
    expect(fx.fake.commentsOn(REPO, number)).toHaveLength(0);
  });
});

describe('malformed deliveries of the pull-request events', () => {
  it('refuses them with 400 INGRESS_GITHUB_MALFORMED and changes nothing', async () => {
    const before = await queueSnapshot(fx);
    const head = sha(randomUUID());
    const suite = checkSuiteCompleted(head, [7]);
    const run = checkRunCompleted(head, [7]);
    const workflow = workflowRunCompleted(head, [7]);
    const review = pullRequestReview(7, 99);
    const cases: [string, object][] = [
      ['check_suite', { ...suite, check_suite: { ...(suite.check_suite as object), head_sha: 42 } }],
      ['check_run', { ...run, check_run: { ...(run.check_run as object), pull_requests: [{ number: 'seven' }] } }],
      ['workflow_run', { ...workflow, repository: { full_name: 'not a repo' } }],
      ['pull_request_review', { ...review, review: { ...(review.review as object), id: 'x' } }],
      ['pull_request', { ...pullRequestClosed(7), pull_request: {} }],
      ['pull_request', { ...pullRequestLabeled(7, HANDS_OFF), sender: null }],
    ];
    for (const [event, payload] of cases) {
      const res = await deliver(fx, event, payload);
      expect(res.statusCode, event).toBe(400);
      expect(res.json().error.code).toBe('INGRESS_GITHUB_MALFORMED');
    }
    expect(await queueSnapshot(fx)).toEqual(before);
  });
});

