import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Octokit } from '@octokit/core';
import { App } from '@octokit/app';
import { GitHubApp, isAgentqError, type GitHubConfig } from '../src/index.js';
import { FakeGitHub, generateAppKeyPair } from '../src/testing/index.js';

const APP_ID = 4242;
const keys = generateAppKeyPair();
let fake: FakeGitHub;

function config(overrides: Partial<GitHubConfig> = {}): GitHubConfig {
  return {
    appId: APP_ID,
    privateKey: keys.privateKey,
    webhookSecret: undefined,
    apiUrl: fake.url,
    gitUrl: 'http://git.example.test',
    repos: undefined,
    draftPrs: true,
    prLabels: ['agentq'],
    triggerLabel: 'agentq',
    autofix: { ci: false, reviews: false, maxAttempts: 3, noAutofixLabel: 'agentq:hands-off', ciLogBytes: 16_000 },
    ...overrides,
  };
}

beforeAll(async () => {
  fake = await new FakeGitHub({ appId: APP_ID, publicKey: keys.publicKey, slug: 'agentq-ci', installations: { 'acme/web': 11, 'acme/api': 11, 'other/lib': 22 } }).start();
});
afterAll(async () => {
  await fake.stop();
});

describe('GitHubApp', () => {
  it('looks installations up with the App JWT and caches hits and misses', async () => {
    const app = new GitHubApp(config());
    const before = fake.calls.length;
    expect(await app.installationFor('acme/web')).toBe(11);
    expect(await app.installationFor('nobody/missing')).toBeUndefined();
    const lookups = fake.calls.slice(before);
    expect(lookups.map((c) => [c.path, c.status, c.auth])).toEqual([
      ['/repos/acme/web/installation', 200, 'jwt'],
      ['/repos/nobody/missing/installation', 404, 'jwt'],
    ]);
    expect(await app.installationFor('acme/web')).toBe(11);
    expect(await app.installationFor('nobody/missing')).toBeUndefined();
    expect(fake.calls.length).toBe(before + 2);
  });

  it('expires the installation cache', async () => {
    const app = new GitHubApp(config(), { installationCacheMs: 0 });
    const before = fake.calls.length;
    await app.installationFor('acme/web');
    await app.installationFor('acme/web');
    expect(fake.calls.length).toBe(before + 2);
  });

  it('mints a token for exactly the one repository with the least permissions', async () => {
    const app = new GitHubApp(config());
    const token = await app.repoToken('acme/web');
    expect(token.token).toMatch(/^ghs_/);
    expect(token.installationId).toBe(11);
    expect(token.expiresAt.getTime()).toBeGreaterThan(Date.now() + 50 * 60_000);
    const request = fake.tokenRequests.find((r) => r.token === token.token);
    expect(request).toEqual({ installationId: 11, repositories: ['web'], permissions: { contents: 'write', pull_requests: 'write', metadata: 'read' }, token: token.token });
    expect(fake.isValidToken(token.token, 'acme/web')).toBe(true);
    expect(fake.isValidToken(token.token, 'acme/api')).toBe(false);

    const withIssues = await app.repoToken('acme/web', { issues: true });
    expect(fake.tokenRequests.find((r) => r.token === withIssues.token)?.permissions).toEqual({ contents: 'write', pull_requests: 'write', metadata: 'read', issues: 'write' });
    expect(withIssues.token).not.toBe(token.token);
  });

  it('refuses a token for a repository without the App', async () => {
    const app = new GitHubApp(config());
    const err = await app.repoToken('nobody/missing').catch((e: unknown) => e);
    expect(isAgentqError(err) && err.code).toBe('GITHUB_NOT_INSTALLED');
  });

  it('gives an Octokit scoped to the repository', async () => {
    const app = new GitHubApp(config());
    fake.setPermission('acme/web', 'alice', 'write');
    const octokit = await app.repoOctokit('acme/web', { issues: true });
    const res = await octokit.request('GET /repos/{owner}/{repo}/collaborators/{username}/permission', { owner: 'acme', repo: 'web', username: 'alice' });
    expect(res.data.permission).toBe('write');
    expect(res.data.user?.login).toBe('alice');
    const comment = await octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner: 'acme', repo: 'web', issue_number: 7, body: 'hello' });
    expect(comment.data.id).toBeGreaterThan(0);
    expect(fake.comments.at(-1)).toMatchObject({ repo: 'acme/web', issueNumber: 7, body: 'hello' });
    // The same token on another repository of the same installation is refused.
    const other = await octokit.request('GET /repos/{owner}/{repo}/collaborators/{username}/permission', { owner: 'acme', repo: 'api', username: 'alice' }).catch((e: unknown) => e);
    expect((other as { status?: number }).status).toBe(403);
  });

  it('opens pull requests and reacts with GitHub shapes', async () => {
    const app = new GitHubApp(config());
    const octokit = await app.repoOctokit('acme/web');
    const pull = await octokit.request('POST /repos/{owner}/{repo}/pulls', { owner: 'acme', repo: 'web', title: 'Add docs', head: 'agentq/x-docs', base: 'main', body: 'summary', draft: true });
    expect(pull.status).toBe(201);
    expect(pull.data).toMatchObject({ title: 'Add docs', draft: true, head: { ref: 'agentq/x-docs' }, base: { ref: 'main' }, user: { login: 'agentq-ci[bot]' } });
    await octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', { owner: 'acme', repo: 'web', issue_number: pull.data.number, labels: ['agentq'] });
    const read = await octokit.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', { owner: 'acme', repo: 'web', pull_number: pull.data.number });
    expect(read.data.html_url).toBe(pull.data.html_url);
    expect(fake.pulls.at(-1)).toMatchObject({ repo: 'acme/web', number: pull.data.number, labels: ['agentq'], draft: true });
    // Without issues permission an issue comment is refused; on the PR it is allowed.
    const issueComment = await octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner: 'acme', repo: 'web', issue_number: 3, body: 'x' }).catch((e: unknown) => e);
    expect((issueComment as { status?: number }).status).toBe(403);
    await octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner: 'acme', repo: 'web', issue_number: pull.data.number, body: 'on the PR' });
    await octokit.request('POST /repos/{owner}/{repo}/pulls/comments/{comment_id}/reactions', { owner: 'acme', repo: 'web', comment_id: 77, content: 'eyes' });
    expect(fake.reactions.at(-1)).toEqual({ repo: 'acme/web', subject: 'comment', commentType: 'review', id: 77, content: 'eyes' });
  });

  it('admits repositories by rule and installation', async () => {
    const open = new GitHubApp(config());
    expect(await open.admit('acme/web')).toEqual({ allowed: true, team: 'default' });
    expect(await open.admit('nobody/missing')).toMatchObject({ allowed: false });
    expect(await open.admit('not a repo')).toMatchObject({ allowed: false });

    const ruled = new GitHubApp(config({ repos: [{ pattern: 'acme/api', team: 'backend' }, { pattern: 'acme/*', team: 'frontend' }, { pattern: 'nobody/*', team: 'x' }] }));
    expect(await ruled.admit('acme/api')).toEqual({ allowed: true, team: 'backend' });
    expect(await ruled.admit('ACME/web')).toEqual({ allowed: true, team: 'frontend' });
    expect(await ruled.admit('other/lib')).toMatchObject({ allowed: false, reason: expect.stringMatching(/configuration/) });
    expect(await ruled.admit('nobody/missing')).toMatchObject({ allowed: false, team: 'x', reason: expect.stringMatching(/not installed/) });

    const star = new GitHubApp(config({ repos: [{ pattern: '*', team: 'all' }] }));
    expect(await star.admit('other/lib')).toEqual({ allowed: true, team: 'all' });
  });

  it('reads the bot identity once', async () => {
    const app = new GitHubApp(config());
    const before = fake.calls.length;
    const bot = await app.botIdentity();
    expect(bot).toEqual({ name: 'agentq-ci[bot]', email: `${fake.botUserId}+agentq-ci[bot]@users.noreply.github.com` });
    expect(await app.botIdentity()).toEqual(bot);
    expect(fake.calls.slice(before).map((c) => c.path)).toEqual(['/app', '/users/agentq-ci[bot]']);
  });

  it('builds clone URLs', () => {
    const app = new GitHubApp(config());
    expect(app.cloneUrl('acme/web')).toBe('http://git.example.test/acme/web.git');
    expect(() => app.cloneUrl('../etc')).toThrow();
  });
});

describe('FakeGitHub', () => {
  it('refuses a JWT signed with another key or for another App', async () => {
    const stranger = generateAppKeyPair();
    const badKey = new App({ appId: APP_ID, privateKey: stranger.privateKey, Octokit: Octokit.defaults({ baseUrl: fake.url }) });
    expect(await badKey.octokit.request('GET /app').catch((e: unknown) => (e as { status?: number }).status)).toBe(401);
    const badId = new App({ appId: APP_ID + 1, privateKey: keys.privateKey, Octokit: Octokit.defaults({ baseUrl: fake.url }) });
    expect(await badId.octokit.request('GET /app').catch((e: unknown) => (e as { status?: number }).status)).toBe(401);
    const noAuth = new Octokit({ baseUrl: fake.url });
    expect(await noAuth.request('GET /repos/{owner}/{repo}/installation', { owner: 'acme', repo: 'web' }).catch((e: unknown) => (e as { status?: number }).status)).toBe(401);
  });

  it('refuses unknown and expired tokens', async () => {
    const app = new GitHubApp(config());
    const { token } = await app.repoToken('other/lib');
    const octokit = new Octokit({ baseUrl: fake.url, auth: token });
    const ok = await octokit.request('GET /repos/{owner}/{repo}/collaborators/{username}/permission', { owner: 'other', repo: 'lib', username: 'bob' });
    expect(ok.data.permission).toBe('none');
    const forged = new Octokit({ baseUrl: fake.url, auth: 'ghs_forged' });
    expect(await forged.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', { owner: 'other', repo: 'lib', pull_number: 1 }).catch((e: unknown) => (e as { status?: number }).status)).toBe(401);
    fake.expireTokens();
    expect(fake.isValidToken(token, 'other/lib')).toBe(false);
    expect(await octokit.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', { owner: 'other', repo: 'lib', pull_number: 1 }).catch((e: unknown) => (e as { status?: number }).status)).toBe(401);
  });
});

describe('GitHubApp lookups', () => {
  it('shares one lookup between concurrent callers', async () => {
    const app = new GitHubApp(config());
    const before = fake.calls.length;
    const ids = await Promise.all([app.installationFor('acme/api'), app.installationFor('acme/api'), app.admit('acme/api')]);
    expect(ids.slice(0, 2)).toEqual([11, 11]);
    expect(fake.calls.length).toBe(before + 1);
  });

  it('gives a stable code when GitHub cannot be reached, and does not cache the failure', async () => {
    const down = new GitHubApp(config({ apiUrl: 'http://127.0.0.1:9' }));
    const err = await down.installationFor('acme/web').catch((e: unknown) => e);
    expect(isAgentqError(err) && err.code).toBe('GITHUB_INSTALLATION_LOOKUP_FAILED');
    const again = await down.installationFor('acme/web').catch((e: unknown) => e);
    expect(isAgentqError(again) && again.code).toBe('GITHUB_INSTALLATION_LOOKUP_FAILED');
  });
});
