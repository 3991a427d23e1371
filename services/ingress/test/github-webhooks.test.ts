import type { TaskRecord } from '@agentq/shared';
import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  READER,
  REPO,
  TRIGGER_LABEL,
  WRITER,
  deliver,
  freshNumber,
  issueComment,
  issueLabeled,
  reviewComment,
  startGitHubIngress,
  type GitHubFixture,
} from './github-fixture.js';
import { queueSnapshot } from './ingress-fixture.js';

let redis: TestRedis;
let fx: GitHubFixture;

beforeAll(async () => {
  redis = await startTestRedis();
  fx = await startGitHubIngress(redis.url);
});
afterAll(async () => {
  await fx?.close();
  await redis?.stop();
});

async function task(id: string): Promise<TaskRecord> {
  return fx.store.require(id);
}

/** A task that opened pull request `number` (as the dispatcher records it). */
async function agentqPull(number: number): Promise<TaskRecord> {
  const res = await deliver(fx, 'issue_comment', issueComment(freshNumber(), '/agent write the docs'));
  expect(res.statusCode).toBe(202);
  const { taskId } = res.json<{ taskId: string }>();
  await fx.redis.set(fx.keys.githubPull(REPO, number), taskId);
  fx.fake.addPull(REPO, { number, head: `agentq/${taskId.slice(0, 8)}-docs`, base: 'main', user: fx.fake.botLogin });
  return task(taskId);
}

describe('POST /github/webhooks', () => {
  it('queues a task for an /agent comment by a writer, with the GitHub context, and reacts with eyes', async () => {
    const issue = freshNumber();
    const payload = issueComment(issue, 'Looks broken.\n/agent fix the failing test\nin the parser, please');
    const res = await deliver(fx, 'issue_comment', payload);
    expect(res.statusCode).toBe(202);
    const { taskId } = res.json<{ taskId: string }>();
    const record = await task(taskId);
    expect(record).toMatchObject({
      repo: REPO,
      prompt: 'fix the failing test\nin the parser, please',
      source: 'github',
      forge: 'github',
      team: 'default',
      state: 'queued',
      github: { issueNumber: issue, commentId: payload.comment.id, login: WRITER, userId: payload.comment.user.id },
    });
    expect(record.github?.isPullRequest).toBeUndefined();
    expect(await fx.queue.getJob(taskId)).toBeDefined();
    expect(fx.fake.reactions).toContainEqual(expect.objectContaining({ repo: REPO, subject: 'comment', id: payload.comment.id, content: 'eyes' }));
    // the permission check used a token for this repository only
    const request = fx.fake.tokenRequests.at(-1);
    expect(request?.repositories).toEqual(['widgets']);
  });

  it('creates one task for a delivery delivered twice', async () => {
    const payload = issueComment(freshNumber(), '/agent add a changelog');
    const first = await deliver(fx, 'issue_comment', payload, { deliveryId: 'delivery-twice' });
    const before = await queueSnapshot(fx);
    const again = await deliver(fx, 'issue_comment', payload, { deliveryId: 'delivery-twice' });
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    expect(await queueSnapshot(fx)).toEqual(before);
    expect(fx.fake.reactions.filter((r) => r.id === payload.comment.id)).toHaveLength(1);
  });

  it('refuses a bad or missing signature with 401 and queues nothing', async () => {
    const before = await queueSnapshot(fx);
    const payload = issueComment(freshNumber(), '/agent do something');
    const forged = await deliver(fx, 'issue_comment', payload, { secret: 'not-the-webhook-secret' });
    const unsigned = await deliver(fx, 'issue_comment', payload, { unsigned: true });
    for (const res of [forged, unsigned]) {
      expect(res.statusCode).toBe(401);
      expect(res.json().error.code).toBe('INGRESS_UNAUTHORIZED');
    }
    expect(await queueSnapshot(fx)).toEqual(before);
  });

  it('refuses a commenter without write access with a polite reply, once, and queues nothing', async () => {
    const before = await queueSnapshot(fx);
    const issue = freshNumber();
    const payload = issueComment(issue, '/agent delete everything', { login: READER });
    const res = await deliver(fx, 'issue_comment', payload, { deliveryId: 'delivery-reader' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ignored: 'no write access' });
    await deliver(fx, 'issue_comment', payload, { deliveryId: 'delivery-reader' });
    const replies = fx.fake.comments.filter((c) => c.repo === REPO && c.issueNumber === issue);
    expect(replies).toHaveLength(1);
    expect(replies[0]?.body).toContain(`@${READER}`);
    expect(replies[0]?.body).toContain('write access');
    expect(await queueSnapshot(fx)).toEqual(before);
    expect(fx.fake.reactions.some((r) => r.id === payload.comment.id)).toBe(false);
  });

  it('ignores comments without /agent, comments by bots, and repositories the App is not installed on', async () => {
    const before = await queueSnapshot(fx);
    const cases = [
      issueComment(freshNumber(), 'I think /agent should look at this'),
      issueComment(freshNumber(), '/agent open a PR', { login: 'agentq-test[bot]', userType: 'Bot' }),
      issueComment(freshNumber(), '/agent fix it', { repo: 'someone/else' }),
    ];
    const answers = [];
    for (const payload of cases) {
      const res = await deliver(fx, 'issue_comment', payload);
      expect(res.statusCode).toBe(200);
      answers.push(res.json<{ ignored: string }>().ignored);
    }
    expect(answers).toEqual(['no /agent command', 'comment by a bot', 'repository not allowed']);
    expect(await queueSnapshot(fx)).toEqual(before);
    expect(fx.fake.comments.some((c) => c.repo === 'someone/else')).toBe(false);
    const ping = await deliver(fx, 'ping', { zen: 'Keep it logically awesome.', hook_id: 1 });
    expect(ping.statusCode).toBe(200);
  });

  it('queues a task with the issue as the prompt when the trigger label is added, and reacts on the issue', async () => {
    const issue = freshNumber();
    const res = await deliver(fx, 'issues', issueLabeled(issue, TRIGGER_LABEL, { title: 'Dark mode', body: 'Add a dark theme to the settings page.' }));
    expect(res.statusCode).toBe(202);
    const record = await task(res.json<{ taskId: string }>().taskId);
    expect(record).toMatchObject({ prompt: 'Dark mode\n\nAdd a dark theme to the settings page.', source: 'github', github: { issueNumber: issue, login: WRITER } });
    expect(record.github?.commentId).toBeUndefined();
    expect(fx.fake.reactions).toContainEqual(expect.objectContaining({ subject: 'issue', id: issue, content: 'eyes' }));
    const other = await deliver(fx, 'issues', issueLabeled(freshNumber(), 'bug', { title: 'x', body: '' }));
    expect(other.json()).toEqual({ ignored: 'not the trigger label' });
  });

  it('makes an /agent comment on an agentq pull request a follow-up of the task that opened it', async () => {
    const number = freshNumber();
    const parent = await agentqPull(number);
    await fx.store.update(parent.id, { priority: 'high' });
    const payload = issueComment(number, '/agent also update the README', { pullRequest: true });
    const res = await deliver(fx, 'issue_comment', payload);
    expect(res.statusCode).toBe(202);
    const record = await task(res.json<{ taskId: string }>().taskId);
    expect(record).toMatchObject({
      followUpOf: parent.id,
      after: parent.id,
      prompt: 'also update the README',
      // a follow-up keeps its parent's priority
      priority: 'high',
      github: { issueNumber: number, isPullRequest: true, commentId: payload.comment.id, login: WRITER },
    });
    expect(fx.fake.reactions).toContainEqual(expect.objectContaining({ subject: 'comment', id: payload.comment.id, content: 'eyes' }));
    expect((await fx.queue.getJob(record.id))?.opts.priority).toBe(1);
  });

  it('makes a review comment with /agent on an agentq pull request a follow-up, and ignores it elsewhere', async () => {
    const number = freshNumber();
    const parent = await agentqPull(number);
    const payload = reviewComment(number, '/agent rename this variable');
    const res = await deliver(fx, 'pull_request_review_comment', payload);
    expect(res.statusCode).toBe(202);
    const record = await task(res.json<{ taskId: string }>().taskId);
    expect(record).toMatchObject({ followUpOf: parent.id, github: { issueNumber: number, isPullRequest: true } });
    expect(fx.fake.reactions).toContainEqual(expect.objectContaining({ commentType: 'review', id: payload.comment.id, content: 'eyes' }));

    const elsewhere = freshNumber();
    fx.fake.addPull(REPO, { number: elsewhere, head: 'feature/x', base: 'main' });
    const ignored = await deliver(fx, 'pull_request_review_comment', reviewComment(elsewhere, '/agent rename it'));
    expect(ignored.json()).toEqual({ ignored: 'not an agentq pull request' });
  });

  it("queues a task on the head branch of someone else's pull request", async () => {
    const number = freshNumber();
    fx.fake.addPull(REPO, { number, head: 'feature/login', base: 'main', user: WRITER });
    const res = await deliver(fx, 'issue_comment', issueComment(number, '/agent add tests for the login form', { pullRequest: true }));
    expect(res.statusCode).toBe(202);
    const record = await task(res.json<{ taskId: string }>().taskId);
    expect(record).toMatchObject({ baseRef: 'feature/login', forge: 'github', github: { issueNumber: number, isPullRequest: true } });
    expect(record.followUpOf).toBeUndefined();
  });

  it('is not there without a webhook secret', async () => {
    const plain = await startGitHubIngress(redis.url, { GITHUB_WEBHOOK_SECRET: '' });
    try {
      const res = await deliver(plain, 'ping', { zen: 'Design for failure.' });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('INGRESS_NOT_FOUND');
    } finally {
      await plain.close();
    }
  });
});
