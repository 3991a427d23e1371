import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRedis, waitFor, type FakeGitHub, type GitHttpServer, type TestRedis } from '@agentq/shared/testing';
import { GitHubApp, loadConfig } from '@agentq/shared';
import { remoteBranchCommit } from '../src/github/pull-request.js';
import { startDispatcherFixture, type DispatcherFixture } from './support/dispatcher-fixture.js';
import { git } from './support/git.js';
import { serveGitHubRepo, type ServedGitHubRepo } from './support/github-repo.js';
import { dumpRedis } from './support/redis-dump.js';

const REPO = 'octo/widgets';
const INSTALLATION = 77;
/** Tokens from the fake last an hour: this margin makes the dispatcher replace them about every 200 ms. */
const REFRESH_MARGIN_MS = 3600_000 - 200;



describe('dispatcher with a GitHub App', () => {
  let redis: TestRedis;
  let fake: FakeGitHub;
  let gitServer: GitHttpServer;
  let fx: DispatcherFixture;
  let bare: string;
  let privateKey: string;
  let repoServer: ServedGitHubRepo;

  beforeAll(async () => {
    redis = await startTestRedis();
    repoServer = await serveGitHubRepo({
      repo: REPO,
      appId: 4242,
      installation: INSTALLATION,
      tempPrefix: 'agentq-gh-',
      prepare: async (work) => {
        await writeFile(join(work, 'README.md'), '# widgets\n');
        git(['add', '-A'], work);
        git(['commit', '--quiet', '-m', 'initial'], work);
        git(['branch', 'feature/existing'], work);
      },
    });
    ({ fake, gitServer, bare, privateKey } = repoServer);
    fx = await startDispatcherFixture(
      redis.url,
      {
        ...repoServer.env,
        AGENTQ_DEMO_DELAY_MS: '150',
      },
      { cancelPollMs: 200 },
      { github: { tokenRefreshMarginMs: REFRESH_MARGIN_MS } },
    );
  }, 30_000);

  afterAll(async () => {
    await fx?.close();
    await repoServer?.stop();
    await redis?.stop();
  });

  const tokens = () => fake.tokenRequests.map((r) => r.token);

  it('believes a push only when GitHub shows the branch at the commit', async () => {
    const config = loadConfig({ GITHUB_APP_ID: '4242', GITHUB_APP_PRIVATE_KEY: privateKey, GITHUB_API_URL: fake.url, GITHUB_GIT_URL: gitServer.url });
    const octokit = await new GitHubApp(config.github as NonNullable<typeof config.github>).repoOctokit(REPO);
    const main = git(['rev-parse', 'refs/heads/main'], bare).trim();
    expect(await remoteBranchCommit(octokit, REPO, 'main')).toBe(main);
    expect(await remoteBranchCommit(octokit, REPO, 'feature/existing')).toBe(main);
    expect(await remoteBranchCommit(octokit, REPO, 'agentq/never-pushed')).toBeUndefined();
  });

  it('runs an issue task on GitHub: bot commit with co-author, draft PR, issue comment and rocket, and the token nowhere', async () => {
    const firstRequest = fake.tokenRequests.length;
    const id = await fx.submit(
      { repo: REPO, prompt: 'print the environment, then add a CONTRIBUTING.md' },
      { source: 'github', github: { issueNumber: 5, commentId: 900, login: 'octocat', userId: 583231 } },
    );
    // while it runs: the working tree's git config holds the plain clone URL and no token
    const gitConfigPath = join(fx.dataDir, 'sandboxes', id, 'repo', '.git', 'config');
    const gitConfig = await waitFor(async () => {
      const text = await readFile(gitConfigPath, 'utf8').catch(() => '');
      return text.includes('[remote "origin"]') ? text : undefined;
    }, { timeoutMs: 10_000, what: 'the sandbox clone' });
    const task = await fx.waitFinal(id);
    expect(task.error).toBeUndefined();
    expect(task.state).toBe('succeeded');
    expect(task.forge).toBe('github');
    expect(gitConfig).toContain(`url = ${gitServer.url}/octo/widgets.git`);

    // the token: one repository, least permissions (issues: write for an issue task)
    const requests = fake.tokenRequests.slice(firstRequest);
    expect(requests.length).toBeGreaterThan(0);
    for (const r of requests) {
      expect(r.installationId).toBe(INSTALLATION);
      expect(r.repositories).toEqual(['widgets']);
      expect(r.permissions).toEqual({ contents: 'write', pull_requests: 'write', metadata: 'read', issues: 'write' });
    }

    // the pull request
    const pull = fake.pulls.find((p) => p.head === task.branch);
    expect(pull).toBeDefined();
    expect(pull).toMatchObject({ repo: REPO, base: 'main', draft: true, labels: ['agentq'], title: 'print the environment, then add a CONTRIBUTING.md' });
    expect(pull?.body).toMatch(/1 file changed, \d+ insertions?\(\+\)/);
    expect(pull?.body).toContain(`/tasks/${id}?key=`);
    expect(pull?.body).toContain('Closes #5');
    expect(task.prUrl).toBe(pull?.html_url);
    expect(task.prNumber).toBe(pull?.number);
    expect(await fx.redis.get(fx.keys.githubPull(REPO, pull?.number ?? 0))).toBe(id);
    const events = await fx.events(id);
    expect(events.some((e) => e.kind === 'pr.opened' && e.url === pull?.html_url)).toBe(true);

    // the issue is told, the triggering comment gets a rocket
    expect(fake.comments.some((c) => c.repo === REPO && c.issueNumber === 5 && c.body.includes(pull?.html_url ?? '?'))).toBe(true);
    expect(fake.reactions).toContainEqual(expect.objectContaining({ repo: REPO, subject: 'comment', id: 900, content: 'rocket' }));

    // the branch, pushed to the served repository, by the App's bot with the requester as co-author
    const log = git(['log', '-1', '--format=%an%n%ae%n%cn%n%ce%n%B', task.branch ?? 'missing'], bare).split('\n');
    expect(log[0]).toBe('agentq-test[bot]');
    expect(log[1]).toBe(`${fake.botUserId}+agentq-test[bot]@users.noreply.github.com`);
    expect(log[2]).toBe('agentq-test[bot]');
    expect(log.join('\n')).toContain('Co-authored-by: octocat <583231+octocat@users.noreply.github.com>');

    // the token reached git through the credential helper, and nothing else
    expect(gitServer.seenPasswords.some((p) => tokens().includes(p))).toBe(true);
    const transcript = JSON.stringify(events);
    expect(transcript).toContain('AGENTQ_TASK_ID='); // the agent did print its environment
    expect(transcript).not.toMatch(/AGENTQ_GIT_TOKEN_FILE|GIT_CONFIG_/); // without git's credential variables
    expect(transcript).toContain(`${gitServer.url}/octo/widgets.git`); // and `git remote -v`
    const stored = await dumpRedis(fx.redis);
    const record = JSON.stringify(await fx.store.get(id));
    const logs = fx.logs.join('');
    for (const token of tokens()) {
      expect(stored).not.toContain(token);
      expect(transcript).not.toContain(token);
      expect(record).not.toContain(token);
      expect(logs).not.toContain(token);
      expect(gitConfig).not.toContain(token);
    }
  }, 30_000);

  it('opens no pull request when nothing changed, and asks for no issues permission', async () => {
    const pulls = fake.pulls.length;
    const firstRequest = fake.tokenRequests.length;
    const id = await fx.submit({ repo: REPO, prompt: 'what is in this repository?' }, { source: 'github' });
    const task = await fx.waitFinal(id);
    expect(task.state).toBe('succeeded');
    expect(task.noChanges).toBe(true);
    expect(task.summary).toBeTruthy();
    expect(task.prUrl).toBeUndefined();
    expect(fake.pulls.length).toBe(pulls);
    const events = await fx.events(id);
    expect(events.some((e) => e.kind === 'log' && e.text.includes('no pull request was opened'))).toBe(true);
    for (const r of fake.tokenRequests.slice(firstRequest)) {
      expect(r.permissions).toEqual({ contents: 'write', pull_requests: 'write', metadata: 'read' });
    }
  }, 20_000);

  it('works on the branch of the pull request a task came from, without opening another', async () => {
    fake.addPull(REPO, { number: 31, head: 'feature/existing', base: 'main' });
    const pulls = fake.pulls.length;
    const id = await fx.submit(
      { repo: REPO, prompt: 'add a NOTES.md', baseRef: 'feature/existing' },
      { source: 'github', github: { issueNumber: 31, isPullRequest: true, commentId: 901, login: 'octocat' } },
    );
    const task = await fx.waitFinal(id);
    expect(task.error).toBeUndefined();
    expect(task.state).toBe('succeeded');
    expect(task.branch).toBe('feature/existing');
    expect(task.prNumber).toBe(31);
    expect(fake.pulls.length).toBe(pulls);
    expect(git(['log', '-1', '--format=%H', 'feature/existing'], bare).trim()).toBe(task.commit);
  }, 20_000);

  it('fails with DISPATCH_GITHUB_NOT_INSTALLED when the App is not installed on the repository', async () => {
    const id = await fx.submit({ repo: 'octo/elsewhere', prompt: 'add a CONTRIBUTING.md' }, { source: 'github' });
    const task = await fx.waitFinal(id);
    expect(task.state).toBe('failed');
    expect(task.error?.code).toBe('DISPATCH_GITHUB_NOT_INSTALLED');
    expect(task.error?.message).toContain('not installed on octo/elsewhere');
  }, 15_000);

  it('replaces the token in the sandbox before it expires, so a push after expiry works', async () => {
    const id = await fx.submit({ repo: REPO, prompt: 'print the environment, then add a CHANGELOG.md' }, { source: 'github' });
    const tokenFile = join(fx.dataDir, 'sandboxes', id, 'git-token');
    const first = await waitFor(async () => (await readFile(tokenFile, 'utf8').catch(() => '')) || undefined, { timeoutMs: 10_000, what: 'the token file' });
    const second = await waitFor(async () => {
      const now = await readFile(tokenFile, 'utf8').catch(() => '');
      return now && now !== first ? now : undefined;
    }, { timeoutMs: 10_000, intervalMs: 20, what: 'the token file to be rewritten' });
    expect(tokens()).toContain(second);
    // whatever token the sandbox holds is redacted while the run lasts
    expect(fx.secrets.redact(`token=${second}`)).toBe('token=[REDACTED]');
    // the clone (with a token from before the expiry) may take longer than a refresh: it is over first
    await waitFor(async () => (await fx.events(id)).some((e) => e.kind === 'git' && e.action === 'clone' && e.ok), {
      timeoutMs: 10_000,
      intervalMs: 20,
      what: 'the clone',
    });
    fake.expireTokens(); // every token minted so far is dead; only refreshed ones work from now on
    const expiredCount = fake.tokenRequests.length;
    const task = await fx.waitFinal(id);
    expect(task.error).toBeUndefined();
    expect(task.state).toBe('succeeded');
    const fresh = fake.tokenRequests.slice(expiredCount).map((r) => r.token);
    expect(gitServer.seenPasswords.some((p) => fresh.includes(p))).toBe(true);
    expect(fx.secrets.size).toBe(0); // the run's tokens are forgotten once it is over
  }, 30_000);

  it('continues the branch of a task that opened a pull request, without opening a second one', async () => {
    const parentId = await fx.submit({ repo: REPO, prompt: 'add a SECURITY.md' }, { source: 'github' });
    const parent = await fx.waitFinal(parentId);
    expect(parent.prNumber).toBeDefined();
    const pulls = fake.pulls.length;
    const id = await fx.submit({ repo: REPO, prompt: 'add a line about reporting to SECURITY.md' }, { source: 'github', followUpOf: parentId });
    const task = await fx.waitFinal(id);
    expect(task.error).toBeUndefined();
    expect(task.state).toBe('succeeded');
    expect(task.branch).toBe(parent.branch);
    expect(task.prNumber).toBe(parent.prNumber);
    expect(task.prUrl).toBe(parent.prUrl);
    expect(fake.pulls.length).toBe(pulls);
    expect(git(['log', '-1', '--format=%H', parent.branch ?? 'missing'], bare).trim()).toBe(task.commit);
  }, 30_000);
});
