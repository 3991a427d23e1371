import { createHmac, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsTranscriptArchive, git, type TaskRecord } from '@agentq/shared';
import { issueComment, waitFor, type FakeGitHub, type GitHttpServer } from '@agentq/shared/testing';
import { startGitHubStack, type GitHubStack } from './support/github-stack.js';
import type { Stack } from './support/stack.js';

const APP_ID = 777;
const REPO = 'octo/widgets';
const WEBHOOK_SECRET = 'e2e-github-webhook-secret';
const WRITER = 'wanda';

describe('GitHub end to end, three services as processes', () => {
  let gh: GitHubStack;
  let fake: FakeGitHub;
  let gitServer: GitHttpServer;
  let stack: Stack;

  beforeAll(async () => {
    gh = await startGitHubStack({ appId: APP_ID, repo: REPO, installation: 55, webhookSecret: WEBHOOK_SECRET, writer: WRITER });
    ({ fake, gitServer, stack } = gh);
  }, 60_000);
  afterAll(async () => {
    await gh?.stop();
  });

  it('turns an /agent comment on an issue into a draft pull request, acknowledged on the issue', async () => {
    const body = JSON.stringify(issueComment(42, '/agent print the environment, then add a CONTRIBUTING.md', { repo: REPO, login: WRITER, commentId: 9001 }));
    const deliver = () =>
      fetch(`${stack.url}/github/webhooks`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'issue_comment',
          'x-github-delivery': delivery,
          'x-hub-signature-256': `sha256=${createHmac('sha256', WEBHOOK_SECRET).update(body).digest('hex')}`,
        },
        body,
      });
    const delivery = randomUUID();
    const res = await deliver();
    expect(res.status).toBe(202);
    const { taskId } = (await res.json()) as { taskId: string };
    // GitHub delivers again: still one task
    expect(((await (await deliver()).json()) as { taskId: string }).taskId).toBe(taskId);

    const task = await waitFor(
      async () => {
        const t = (await (await stack.api(`/v1/tasks/${taskId}`)).json()) as TaskRecord;
        return ['succeeded', 'failed', 'canceled', 'timed_out'].includes(t.state) ? t : undefined;
      },
      { timeoutMs: 45_000, intervalMs: 100, what: 'the task to end' },
    );
    expect(task).toMatchObject({ state: 'succeeded', forge: 'github', github: { issueNumber: 42, login: WRITER } });

    // one draft pull request from the task branch, linked on the record and on the issue
    expect(fake.pulls).toHaveLength(1);
    const pull = fake.pulls[0];
    expect(pull).toMatchObject({ repo: REPO, head: task.branch, base: 'main', draft: true });
    expect(task.prUrl).toBe(pull?.html_url);
    expect(fake.comments.some((c) => c.repo === REPO && c.issueNumber === 42 && c.body.includes(pull?.html_url ?? '?'))).toBe(true);
    const reactions = fake.reactions.map((r) => r.content);
    expect(reactions).toContain('eyes');
    expect(reactions).toContain('rocket');

    // the branch is on "github.com", committed by the App's bot
    const { stdout } = await git(['log', '-1', '--format=%an <%ae>%n%B', task.branch as string], { cwd: gh.bare });
    expect(stdout).toContain('[bot]');
    expect(stdout).toContain(`Co-authored-by: ${WRITER}`);

    // every token asked for the one repository, and none reached Redis or the logs
    expect(fake.tokenRequests.length).toBeGreaterThan(0);
    for (const request of fake.tokenRequests) expect(request.repositories).toEqual(['widgets']);
    const tokens = fake.tokenRequests.map((r) => r.token);
    expect(gitServer.seenPasswords.some((p) => tokens.includes(p))).toBe(true);
    const redis = new Redis(stack.env.REDIS_URL as string);
    try {
      let dump = '';
      for (const key of await redis.keys('*')) {
        const type = await redis.type(key);
        if (type === 'string') dump += await redis.get(key);
        else if (type === 'hash') dump += JSON.stringify(await redis.hgetall(key));
        else if (type === 'stream') dump += JSON.stringify(await redis.xrange(key, '-', '+'));
      }
      for (const token of tokens) expect(dump).not.toContain(token);
    } finally {
      redis.disconnect();
    }
    for (const token of tokens) expect(stack.logs()).not.toContain(token);
    // nor the stored transcript, where the agent printed its environment and `git remote -v`
    const archive = FsTranscriptArchive.forDataDir(stack.dataDir);
    await waitFor(async () => (await archive.readTask(taskId)) !== undefined, { timeoutMs: 20_000, what: 'task.json in storage' });
    const stored = (await readFile(archive.eventsPath(taskId), 'utf8')) + (await readFile(archive.taskPath(taskId), 'utf8'));
    expect(stored).toContain('git remote -v');
    for (const token of tokens) expect(stored).not.toContain(token);
  });
});
