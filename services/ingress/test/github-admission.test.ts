import { DEMO_REPO } from '@agentq/shared';
import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, deliver, freshNumber, issueComment, startGitHubIngress, type GitHubFixture } from './github-fixture.js';
import { ALPHA_TOKEN, auth, queueSnapshot } from './ingress-fixture.js';

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

const create = (repo: string, token?: string) =>
  fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(token), payload: { repo, prompt: 'add a CONTRIBUTING.md' } });

describe('admission of GitHub repositories through the task API', () => {
  it('admits a repository the App is installed on, for the caller\'s team, on the GitHub forge', async () => {
    const res = await create(REPO, ALPHA_TOKEN);
    expect(res.statusCode).toBe(202);
    const record = await fx.store.require(res.json<{ id: string }>().id);
    expect(record).toMatchObject({ repo: REPO, forge: 'github', team: 'alpha', source: 'api' });
  });

  it('keeps repositories of the local forge local', async () => {
    const res = await create(DEMO_REPO);
    expect(res.statusCode).toBe(202);
    expect((await fx.store.require(res.json<{ id: string }>().id)).forge).toBe('local');
  });

  it('refuses a repository the App is not installed on with 422 INGRESS_UNKNOWN_REPO', async () => {
    const before = await queueSnapshot(fx);
    const res = await create('octo/not-installed');
    expect(res.statusCode).toBe(422);
    expect(res.json().error.code).toBe('INGRESS_UNKNOWN_REPO');
    expect(await queueSnapshot(fx)).toEqual(before);
  });

  it('refuses an installed repository the configuration does not allow', async () => {
    const strict = await startGitHubIngress(redis.url, { AGENTQ_GITHUB_REPOS: 'octo/other:alpha' });
    try {
      const res = await strict.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { repo: REPO, prompt: 'hi' } });
      expect(res.statusCode).toBe(422);
      expect(res.json().error.code).toBe('INGRESS_UNKNOWN_REPO');
    } finally {
      await strict.close();
    }
  });

  it('gives tasks from GitHub the team of the matching rule, and API tasks the caller\'s team', async () => {
    const teamed = await startGitHubIngress(redis.url, { AGENTQ_GITHUB_REPOS: 'octo/*:alpha' });
    try {
      const hook = await deliver(teamed, 'issue_comment', issueComment(freshNumber(), '/agent tidy up'));
      expect(hook.statusCode).toBe(202);
      expect((await teamed.store.require(hook.json<{ taskId: string }>().taskId)).team).toBe('alpha');
      const api = await teamed.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { repo: REPO, prompt: 'hi' } });
      expect(api.statusCode).toBe(202);
      expect((await teamed.store.require(api.json<{ id: string }>().id)).team).toBe('default');
    } finally {
      await teamed.close();
    }
  });
});
