import { App } from '@octokit/app';
import { Octokit } from '@octokit/core';
import type { Logger } from 'pino';
import type { GitHubConfig } from '../config/load-config.js';
import { AgentqError, errorMessage } from '../errors.js';
import { parseRepoName, repoMatches } from './repo-name.js';

export interface RepoToken {
  token: string;
  expiresAt: Date;
  installationId: number;
}

export interface BotIdentity {
  /** `<slug>[bot]` */
  name: string;
  /** `<bot user id>+<slug>[bot]@users.noreply.github.com` */
  email: string;
}

export interface RepoAdmission {
  allowed: boolean;
  team: string;
  reason?: string;
}

export interface GitHubAppOptions {
  logger?: Logger;
  /** How long installation lookups (found or not) are kept; one minute by default. */
  installationCacheMs?: number;
}

const DEFAULT_TEAM = 'default';
const INSTALLATION_CACHE_MS = 60_000;

/** What a token is for beyond a task's work: replying on an issue, reading a commit's checks and their Actions logs. */
export interface TokenScope {
  issues?: boolean;
  ci?: boolean;
}

/** The least permissions a task needs; `issues` only when it replies on an issue, `checks` and `actions` (read) only to read CI results. */
export function tokenPermissions(options: TokenScope = {}): Record<string, 'read' | 'write'> {
  return {
    contents: 'write',
    pull_requests: 'write',
    metadata: 'read',
    ...(options.issues ? { issues: 'write' as const } : {}),
    ...(options.ci ? { checks: 'read' as const, actions: 'read' as const } : {}),
  };
}

/**
 * The GitHub App: installation lookups with the App JWT, and installation tokens minted per
 * task for exactly one repository and the least permissions. Tokens are never cached here, so
 * a broader token is never reused for another purpose.
 */
export class GitHubApp {
  private readonly app: App;
  private readonly CoreOctokit: typeof Octokit;
  private readonly installations = new Map<string, { id: Promise<number | undefined>; until: number }>();
  private readonly cacheMs: number;
  private bot: Promise<BotIdentity> | undefined;

  constructor(
    private readonly config: GitHubConfig,
    private readonly options: GitHubAppOptions = {},
  ) {
    this.cacheMs = options.installationCacheMs ?? INSTALLATION_CACHE_MS;
    const logger = options.logger;
    const log = {
      debug: (msg: string) => logger?.debug({ detail: String(msg) }, 'github client'),
      info: (msg: string) => logger?.debug({ detail: String(msg) }, 'github client'),
      warn: (msg: string) => logger?.warn({ detail: String(msg) }, 'github client warning'),
      error: (msg: string) => logger?.error({ detail: String(msg) }, 'github client error'),
    };
    this.CoreOctokit = Octokit.defaults({ baseUrl: config.apiUrl, log });
    this.app = new App({ appId: config.appId, privateKey: config.privateKey, Octokit: this.CoreOctokit, log });
  }

  cloneUrl(repo: string): string {
    const { owner, name } = parseRepoName(repo);
    return `${this.config.gitUrl}/${owner}/${name}.git`;
  }

  /** Installation id of a repository (cached, misses too, for a minute); undefined when the App is not installed there. */
  async installationFor(repo: string): Promise<number | undefined> {
    const { owner, name } = parseRepoName(repo);
    const key = `${owner}/${name}`.toLowerCase();
    const cached = this.installations.get(key);
    if (cached && cached.until > Date.now()) return cached.id;
    const id = this.lookupInstallation(owner, name, repo);
    this.installations.set(key, { id, until: Number.POSITIVE_INFINITY });
    try {
      await id;
      if (this.installations.get(key)?.id === id) this.installations.set(key, { id, until: Date.now() + this.cacheMs });
    } catch (err) {
      if (this.installations.get(key)?.id === id) this.installations.delete(key);
      throw err;
    }
    return id;
  }

  private async lookupInstallation(owner: string, name: string, repo: string): Promise<number | undefined> {
    try {
      const res = await this.app.octokit.request('GET /repos/{owner}/{repo}/installation', { owner, repo: name });
      return res.data.id;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw apiError('GITHUB_INSTALLATION_LOOKUP_FAILED', 'installation lookup failed', err, repo);
    }
  }

  /** Is the repository allowed by the configured rules (or by default), and is the App installed there? */
  async admit(repo: string): Promise<RepoAdmission> {
    try {
      parseRepoName(repo);
    } catch {
      return { allowed: false, team: DEFAULT_TEAM, reason: 'not an owner/name repository' };
    }
    let team = DEFAULT_TEAM;
    if (this.config.repos !== undefined) {
      const rule = this.config.repos.find((r) => repoMatches(r.pattern, repo));
      if (!rule) return { allowed: false, team: DEFAULT_TEAM, reason: 'repository not allowed by configuration' };
      team = rule.team;
    }
    const installationId = await this.installationFor(repo);
    if (installationId === undefined) return { allowed: false, team, reason: 'GitHub App not installed on the repository' };
    return { allowed: true, team };
  }

  /** A fresh installation token for exactly this repository, with the least permissions. */
  async repoToken(repo: string, options: TokenScope = {}): Promise<RepoToken> {
    const { name } = parseRepoName(repo);
    const installationId = await this.installationFor(repo);
    if (installationId === undefined) {
      throw new AgentqError('GITHUB_NOT_INSTALLED', 'the GitHub App is not installed on the repository', { status: 422, details: { repo } });
    }
    try {
      const res = await this.app.octokit.request('POST /app/installations/{installation_id}/access_tokens', {
        installation_id: installationId,
        repositories: [name],
        permissions: tokenPermissions(options),
      });
      this.options.logger?.debug({ repo, installationId, expiresAt: res.data.expires_at }, 'github token minted');
      return { token: res.data.token, expiresAt: new Date(res.data.expires_at), installationId };
    } catch (err) {
      if (statusOf(err) === 404) this.installations.delete(repo.toLowerCase());
      throw apiError('GITHUB_TOKEN_FAILED', 'installation token could not be minted', err, repo);
    }
  }

  /** An Octokit (`@octokit/core`, baseUrl = apiUrl) authenticated with a fresh repo-scoped token. */
  async repoOctokit(repo: string, options: TokenScope = {}): Promise<Octokit> {
    const { token } = await this.repoToken(repo, options);
    return this.tokenOctokit(token);
  }

  /** An Octokit (`@octokit/core`, baseUrl = apiUrl) authenticated with a token minted earlier. */
  tokenOctokit(token: string): Octokit {
    return new this.CoreOctokit({ auth: token });
  }

  /** The App's bot identity for commits (cached). */
  botIdentity(): Promise<BotIdentity> {
    this.bot ??= this.loadBotIdentity().catch((err: unknown) => {
      this.bot = undefined;
      throw err;
    });
    return this.bot;
  }

  private async loadBotIdentity(): Promise<BotIdentity> {
    try {
      const app = await this.app.octokit.request('GET /app');
      const slug = app.data?.slug;
      if (!slug) throw new AgentqError('GITHUB_API_ERROR', 'GET /app returned no slug', { status: 502 });
      const login = `${slug}[bot]`;
      const user = await new this.CoreOctokit().request('GET /users/{username}', { username: login });
      return { name: login, email: `${user.data.id}+${login}@users.noreply.github.com` };
    } catch (err) {
      if (err instanceof AgentqError) throw err;
      throw apiError('GITHUB_API_ERROR', 'bot identity could not be read', err);
    }
  }
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}

function apiError(code: string, message: string, err: unknown, repo?: string): AgentqError {
  const status = statusOf(err);
  return new AgentqError(code, message, {
    status: 502,
    details: { ...(repo === undefined ? {} : { repo }), ...(status === undefined ? {} : { githubStatus: status }), reason: errorMessage(err).slice(0, 200) },
  });
}
