import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, TRIGGER_LABEL, deliver, freshNumber, issueComment, issueLabeled, reviewComment, startGitHubIngress, type GitHubFixture } from './github-fixture.js';
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

/** `payload` with the value at `path` replaced (undefined: removed). */
function withField(payload: object, path: string[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(payload) as Record<string, unknown>;
  let node: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  const last = path.at(-1) as string;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

describe('validly signed GitHub deliveries of the wrong shape', () => {
  const comment = () => issueComment(freshNumber(), '/agent fix it');
  const review = () => reviewComment(freshNumber(), '/agent fix it');
  const labeled = () => issueLabeled(freshNumber(), TRIGGER_LABEL, { title: 'Fix it', body: 'please' });
  const cases: { name: string; event: string; payload: () => Record<string, unknown>; field: string }[] = [
    { name: 'an issue comment without repository', event: 'issue_comment', payload: () => withField(comment(), ['repository'], undefined), field: 'repository' },
    { name: 'an issue comment without issue', event: 'issue_comment', payload: () => withField(comment(), ['issue'], undefined), field: 'issue' },
    { name: 'an issue comment without comment', event: 'issue_comment', payload: () => withField(comment(), ['comment'], undefined), field: 'comment' },
    { name: 'an issue comment whose body is a number', event: 'issue_comment', payload: () => withField(comment(), ['comment', 'body'], 42), field: 'comment.body' },
    { name: 'an issue number that is a string', event: 'issue_comment', payload: () => withField(comment(), ['issue', 'number'], '7'), field: 'issue.number' },
    { name: 'a user without login', event: 'issue_comment', payload: () => withField(comment(), ['comment', 'user', 'login'], undefined), field: 'comment.user.login' },
    { name: 'a repository name that is not owner/name', event: 'issue_comment', payload: () => withField(comment(), ['repository', 'full_name'], '../../etc'), field: 'repository.full_name' },
    { name: 'a repository that is an array', event: 'issue_comment', payload: () => withField(comment(), ['repository'], []), field: 'repository' },
    { name: 'a label event without issue', event: 'issues', payload: () => withField(labeled(), ['issue'], undefined), field: 'issue' },
    { name: 'a label event without sender', event: 'issues', payload: () => withField(labeled(), ['sender'], null), field: 'sender' },
    { name: 'a label event whose title is an object', event: 'issues', payload: () => withField(labeled(), ['issue', 'title'], { x: 1 }), field: 'issue.title' },
    { name: 'a review comment without pull_request', event: 'pull_request_review_comment', payload: () => withField(review(), ['pull_request'], undefined), field: 'pull_request' },
    { name: 'a review comment with __proto__ as comment', event: 'pull_request_review_comment', payload: () => withField(review(), ['comment'], JSON.parse('{"__proto__":{"id":1}}')), field: 'comment.id' },
  ];
  for (const c of cases) {
    it(`answers ${c.name} with 400 INGRESS_GITHUB_MALFORMED naming the field, and queues nothing`, async () => {
      const before = await queueSnapshot(fx);
      const res = await deliver(fx, c.event, c.payload());
      expect(res.statusCode).toBe(400);
      const error = res.json<{ error: { code: string; details: { fields: { path: string }[] } } }>().error;
      expect(error.code).toBe('INGRESS_GITHUB_MALFORMED');
      expect(error.details.fields.map((f) => f.path)).toContain(c.field);
      expect(await queueSnapshot(fx)).toEqual(before);
    });
  }

  it('ignores events it does not handle whatever their shape, and a delivery whose action is not a string', async () => {
    for (const [event, payload] of [
      ['push', { repository: 42 }],
      ['issue_comment', { action: 7, comment: null }],
      ['issues', { action: 'opened' }],
    ] as const) {
      const res = await deliver(fx, event, payload);
      expect(res.statusCode, event).toBe(200);
      expect(res.json()).toHaveProperty('ignored');
    }
  });

  it('refuses a prompt with a control character with a reply that says why, and queues nothing', async () => {
    const before = await queueSnapshot(fx);
    const issue = freshNumber();
    const res = await deliver(fx, 'issue_comment', issueComment(issue, '/agent fix \u0000 it'));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ignored: 'INGRESS_PROMPT_INVALID' });
    const replies = fx.fake.comments.filter((c) => c.repo === REPO && c.issueNumber === issue);
    expect(replies).toHaveLength(1);
    expect(replies[0]?.body).toContain('control character U+0000');
    expect(await queueSnapshot(fx)).toEqual(before);
  });
});
