import type { Redis } from 'ioredis';
import {
  AgentqError,
  errorMessage,
  type GitHubApp,
  type GitHubConfig,
  type Logger,
  type RedisKeys,
  type TaskRecord,
  type TaskStore,
} from '@agentq/shared';
import type { SandboxHandle } from '../providers/sandbox-provider.js';
import type { Outcome } from '../run/outcome.js';
import type { RunFacts } from '../run/output-reader.js';
import { GIT_TOKEN_FILE, gitCredentialEnv } from '../run/run-script.js';
import type { RuntimeSecrets } from '../runtime-secrets.js';
import { announceOnIssue, defaultBranch, openPullRequest } from './pull-request.js';
import { TokenKeeper } from './token-keeper.js';

/** What the dispatcher needs to run tasks on GitHub repositories. */
export interface GitHubDeps {
  app: GitHubApp;
  config: GitHubConfig;
  redis: Redis;
  keys: RedisKeys;
  /** The transcript viewer link of a task (for pull request bodies). */
  viewerUrl: (taskId: string) => string;
  /** How long before expiry a sandbox's token is replaced. */
  tokenRefreshMarginMs?: number;
}

/** How the sandbox of a GitHub task reaches its repository. */
export interface GitHubAccess {
  cloneUrl: string;
  author: { name: string; email: string };
  coAuthors: string[];
  /** Makes git read the token file (no secret in it). */
  env: Record<string, string>;
  /** The token file. */
  files: Record<string, string>;
}

function wrap(code: string, message: string, err: unknown): AgentqError {
  const reason = err instanceof AgentqError ? `${err.code}: ${err.message}` : errorMessage(err);
  return new AgentqError(code, `${message} (${reason})`, { cause: err });
}

/**
 * One task's run on a GitHub repository: its installation token (minted just in time, redacted,
 * kept fresh in the sandbox's token file), and what is published once the branch is pushed: the
 * pull request, and the answer on the issue the task came from.
 */
export class GitHubRun {
  private readonly keeper: TokenKeeper;
  private readonly issues: boolean;

  constructor(
    private readonly deps: GitHubDeps,
    private readonly secrets: RuntimeSecrets,
    private readonly task: TaskRecord,
    private readonly log: Logger,
  ) {
    // issues: write only to answer on the issue the task came from
    this.issues = task.github?.issueNumber !== undefined && task.github.isPullRequest !== true;
    this.keeper = new TokenKeeper({
      app: deps.app,
      repo: task.repo,
      issues: this.issues,
      secrets,
      logger: log,
      refreshMarginMs: deps.tokenRefreshMarginMs,
    });
  }

  /** Checks the App can work on the repository and mints the sandbox's token. */
  async prepare(): Promise<GitHubAccess> {
    const { app } = this.deps;
    const repo = this.task.repo;
    let installation: number | undefined;
    try {
      installation = await app.installationFor(repo);
    } catch (err) {
      throw wrap('DISPATCH_GITHUB_API_ERROR', `could not look up the GitHub App installation of ${repo}`, err);
    }
    if (installation === undefined) {
      throw new AgentqError('DISPATCH_GITHUB_NOT_INSTALLED', `the GitHub App is not installed on ${repo}: install it there, or give it access to the repository`);
    }
    let author: { name: string; email: string };
    try {
      author = await app.botIdentity();
    } catch (err) {
      throw wrap('DISPATCH_GITHUB_API_ERROR', 'could not read the GitHub App\'s bot identity', err);
    }
    let token: string;
    try {
      token = (await this.keeper.mint()).token;
    } catch (err) {
      throw wrap('DISPATCH_GITHUB_TOKEN_FAILED', `could not get an installation token for ${repo}`, err);
    }
    const login = this.task.github?.login;
    const coAuthors: string[] = [];
    if (login && /^[A-Za-z0-9-]{1,39}$/.test(login)) {
      const userId = this.task.github?.userId;
      coAuthors.push(`${login} <${userId !== undefined ? `${userId}+` : ''}${login}@users.noreply.github.com>`);
    }
    return { cloneUrl: app.cloneUrl(repo), author, coAuthors, env: gitCredentialEnv(GIT_TOKEN_FILE), files: { [GIT_TOKEN_FILE]: token } };
  }

  /** Takes over a sandbox an earlier dispatcher started: the token it holds is redacted from now on. */
  async adopt(handle: SandboxHandle): Promise<void> {
    try {
      const token = (await handle.readFile?.(GIT_TOKEN_FILE))?.trim();
      if (token) this.keeper.remember(token);
    } catch (err) {
      this.log.warn({ err: this.secrets.redact(errorMessage(err)) }, 'could not read the sandbox token file');
    }
  }

  /** Rewrites the sandbox's token file with a fresh token before the current one expires, while the run lasts. */
  keepTokenFresh(handle: SandboxHandle): void {
    if (!handle.writeFile) return;
    this.keeper.keepFresh((token) => handle.writeFile?.(GIT_TOKEN_FILE, token) ?? Promise.resolve());
  }

  /** Stops refreshing; the tokens are forgotten. Safe to call twice. */
  async stop(): Promise<void> {
    await this.keeper.stop();
  }

  /**
   * After a successful run: opens the pull request of a new branch (not for a run on an existing
   * pull request's branch), and answers on the issue the task came from. Says so when nothing
   * changed. Returns the outcome to record.
   */
  async publish(outcome: Outcome, facts: RunFacts, store: TaskStore): Promise<Outcome> {
    const task = this.task;
    if (outcome.state !== 'succeeded') return outcome;
    if (outcome.update.noChanges) {
      const text = task.prNumber !== undefined
        ? `nothing changed: nothing was added to pull request #${task.prNumber}`
        : 'nothing changed: no pull request was opened';
      await store.append(task.id, [{ kind: 'log', stream: 'system', text }]);
      return outcome;
    }
    const branch = outcome.update.branch;
    if (!branch) return outcome;
    if (task.prNumber !== undefined) {
      await store.append(task.id, [{ kind: 'log', stream: 'system', text: `pushed to pull request #${task.prNumber}` }]);
      return outcome;
    }
    const { app, config, redis, keys } = this.deps;
    let pull;
    try {
      const octokit = await app.repoOctokit(task.repo, { issues: this.issues });
      const base = task.baseRef ?? facts.defaultBranch ?? (await defaultBranch(octokit, task.repo));
      pull = await openPullRequest(octokit, {
        task,
        branch,
        base,
        draft: config.draftPrs,
        labels: config.prLabels,
        summary: outcome.update.summary,
        diffStat: outcome.update.diffStat,
        costUsd: outcome.update.costUsd,
        turns: outcome.update.turns,
        viewerUrl: this.deps.viewerUrl(task.id),
        redact: this.secrets.redact,
      });
      await redis.set(keys.githubPull(task.repo, pull.number), task.id);
      await store.append(task.id, [{ kind: 'pr.opened', url: pull.url, number: pull.number }]);
      this.log.info({ prNumber: pull.number, prUrl: pull.url }, 'pull request opened');
      if (this.issues) {
        try {
          await announceOnIssue(octokit, task, pull);
        } catch (err) {
          const reason = this.secrets.redact(errorMessage(err));
          this.log.warn({ err: reason }, 'could not answer on the issue');
          await store.append(task.id, [{ kind: 'log', stream: 'system', text: `could not comment on issue #${task.github?.issueNumber ?? ''}: ${reason}` }]);
        }
      }
    } catch (err) {
      const reason = this.secrets.redact(errorMessage(err));
      this.log.warn({ err: reason }, 'could not open the pull request');
      return {
        state: 'failed',
        update: { ...outcome.update, error: { code: 'DISPATCH_GITHUB_PR_FAILED', message: `${branch} was pushed, but the pull request could not be opened: ${reason}` } },
      };
    }
    return { state: 'succeeded', update: { ...outcome.update, prUrl: pull.url, prNumber: pull.number } };
  }
}
