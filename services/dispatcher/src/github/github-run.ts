import type { Redis } from 'ioredis';
import { AgentqError, errorMessage, type GitHubApp, type GitHubConfig, type Logger, type RedisKeys, type TaskRecord } from '@agentq/shared';
import { dispatchError, type DispatchError, type DispatchErrorCode } from '../dispatch-errors.js';
import type { SandboxHandle } from '../providers/sandbox-provider.js';
import { GIT_TOKEN_FILE, gitCredentialEnv } from '../run/run-script.js';
import type { RuntimeSecrets } from '../runtime-secrets.js';
import { answersOnIssue } from './pull-request.js';
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

function wrap(code: DispatchErrorCode, message: string, err: unknown): DispatchError {
  const reason = err instanceof AgentqError ? `${err.code}: ${err.message}` : errorMessage(err);
  return dispatchError(code, `${message} (${reason})`, { cause: err });
}

/**
 * The installation tokens of one task's run on a GitHub repository: minted just in time, redacted
 * while the run lasts, kept fresh in the sandbox's token file, and forgotten when it stops.
 */
export class GitHubRun {
  private readonly keeper: TokenKeeper;

  constructor(
    private readonly deps: Pick<GitHubDeps, 'app' | 'tokenRefreshMarginMs'>,
    private readonly secrets: RuntimeSecrets,
    private readonly task: Pick<TaskRecord, 'repo' | 'github'>,
    private readonly log: Logger,
  ) {
    this.keeper = new TokenKeeper({
      app: deps.app,
      repo: task.repo,
      // issues: write only to answer on the issue the task came from
      issues: answersOnIssue(task),
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
      throw dispatchError('DISPATCH_GITHUB_NOT_INSTALLED', `the GitHub App is not installed on ${repo}: install it there, or give it access to the repository`);
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

  /**
   * Takes over a sandbox an earlier dispatcher (or attempt) started: the token it holds is redacted
   * from now on, and replaced at once when the token is kept fresh.
   */
  async adopt(handle: SandboxHandle): Promise<void> {
    let token: string | undefined;
    try {
      token = (await handle.readFile?.(GIT_TOKEN_FILE))?.trim();
    } catch (err) {
      this.log.warn({ err: this.secrets.redact(errorMessage(err)) }, 'could not read the sandbox token file');
    }
    this.keeper.adopt(token);
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
}
