import { createHash, createVerify, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { git } from '../forge/git.js';
import { readRepoFile } from '../forge/local-forge.js';
import { closeServer, listenOnLoopback } from './loopback-server.js';

export type FakePermission = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none';

export interface FakeGitHubOptions {
  appId: number;
  /** PEM (SPKI) public key of the App: the App JWT is verified with it. */
  publicKey: string;
  slug?: string;
  /** `owner/name` → installation id. */
  installations?: Record<string, number>;
  /** Lifetime of minted installation tokens; one hour by default, as on GitHub. */
  tokenTtlSec?: number;
  /** Base of `html_url`s; `https://github.com` by default. */
  htmlUrl?: string;
  /** Default branch reported by `GET /repos/{o}/{r}`; `main` by default. */
  defaultBranch?: string;
  /**
   * Directory of the repositories' contents, as bare git repositories `<root>/<owner>/<name>.git`
   * (the `root` of a `GitHttpServer`): `GET /repos/{o}/{r}/contents/{path}` reads files there.
   */
  repositories?: string;
}

export interface FakeTokenRequest {
  installationId: number;
  repositories?: string[];
  permissions?: Record<string, string>;
  token: string;
}

export interface FakePull {
  repo: string;
  number: number;
  title: string;
  body: string;
  head: string;
  base: string;
  draft: boolean;
  labels: string[];
  html_url: string;
  user: string;
  /** `open` unless a test closes it. */
  state?: 'open' | 'closed';
  /** The head commit; read from the served repository's branch (or made up) when unset. */
  headSha?: string;
  /** The repository of the head branch (a fork's), when not the pull request's own. */
  headRepo?: string;
}

/** A check run of a commit (`GET /repos/{o}/{r}/commits/{sha}/check-runs`); with `appSlug` `github-actions` it is an Actions job too. */
export interface FakeCheckRun {
  id: number;
  repo: string;
  headSha: string;
  name: string;
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: string | null;
  html_url: string;
  details_url: string;
  output: { title: string | null; summary: string | null; text: string | null };
  appSlug: string;
  /** The Actions job's steps. */
  steps: { name: string; number: number; status: string; conclusion: string | null }[];
  /** The Actions job's log (served through a redirect to a download URL, as on GitHub). */
  log: string;
}

/** A review of a pull request and its inline comments. */
export interface FakeReview {
  id: number;
  repo: string;
  pullNumber: number;
  state: string;
  body: string;
  user: string;
  html_url: string;
  comments: { id: number; path: string; line: number | null; body: string; html_url: string }[];
}

export interface FakeComment {
  repo: string;
  issueNumber: number;
  body: string;
  id: number;
  html_url: string;
  user: string;
}

export interface FakeReaction {
  repo: string;
  /** `comment`: an issue or PR comment, or a review comment (see `commentType`). */
  subject: 'issue' | 'comment';
  commentType?: 'issue' | 'review';
  id: number;
  content: string;
}

export interface FakeReviewComment {
  repo: string;
  pullNumber: number;
  id: number;
  path: string;
  line?: number;
  body: string;
  user: string;
  /** The comment it answers (a reply in its thread). */
  inReplyTo?: number;
  html_url: string;
}

export interface FakeGitHubCall {
  method: string;
  path: string;
  status: number;
  auth: 'jwt' | 'token' | 'none';
}

interface MintedToken {
  installationId: number;
  /** Lower-case `owner/name`s. */
  repos: Set<string>;
  permissions: Record<string, string>;
  expiresAt: number;
}

/** An answer sent as is (a redirect, a log file) rather than as JSON. */
class RawAnswer {
  constructor(
    readonly headers: Record<string, string>,
    readonly text: string,
  ) {}
}

/** One page of a listing (`per_page`, at most 100, 30 by default; `page` from 1). */
function pageOf<T>(items: T[], query: URLSearchParams): T[] {
  const perPage = Math.min(100, Math.max(1, Number(query.get('per_page') ?? 30) || 30));
  const page = Math.max(1, Number(query.get('page') ?? 1) || 1);
  return items.slice((page - 1) * perPage, page * perPage);
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Files the contents endpoint returns with their content (GitHub's limit for the JSON form). */
const CONTENTS_MAX_BYTES = 1024 * 1024;

const REACTIONS = new Set(['+1', '-1', 'laugh', 'confused', 'heart', 'hooray', 'rocket', 'eyes']);
const PERMISSION_FIELD: Record<FakePermission, string> = { admin: 'admin', maintain: 'write', write: 'write', triage: 'read', read: 'read', none: 'none' };

/** An RSA 2048 key pair in PEM, for a test GitHub App. */
export function generateAppKeyPair(): { privateKey: string; publicKey: string } {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}

/**
 * A fake GitHub REST API on 127.0.0.1 that the real Octokit talks to through `GITHUB_API_URL`.
 * App endpoints need a valid App JWT (RS256, checked with the public key); installation tokens
 * are minted for the repositories and permissions asked for, recorded in `tokenRequests`, and
 * only valid for those repositories and permissions on the other endpoints (403 otherwise, 401
 * for unknown or expired tokens). Pull requests, comments and reactions are kept; every call is
 * recorded in `calls`. With `repositories`, `GET /repos/{o}/{r}/contents/{path}?ref=` answers a
 * regular file in the JSON form (base64 `content`; empty past 1 MB, as on GitHub), 404 for
 * anything else (a missing repository, ref or file; directories too). Check runs of commits
 * (`addCheckRun`, listed by `GET /repos/{o}/{r}/commits/{sha}/check-runs`, paginated, with
 * `checks: read`), GitHub Actions jobs with their steps and logs (`actions: read`; the logs
 * answer 302 to a signed loopback download URL, as GitHub does), reviews and their inline
 * comments (`addReview`), and pull requests' state, labels, head commit and head repository
 * (`setPull`) are kept for tests.
 */
export class FakeGitHub {
  readonly tokenRequests: FakeTokenRequest[] = [];
  readonly pulls: FakePull[] = [];
  readonly comments: FakeComment[] = [];
  readonly reactions: FakeReaction[] = [];
  readonly checkRuns: FakeCheckRun[] = [];
  readonly reviews: FakeReview[] = [];
  readonly calls: FakeGitHubCall[] = [];
  /** Inline comments of reviews: the ones added with `addReviewComment`, and the replies posted to them. */
  readonly reviewComments: FakeReviewComment[] = [];

  /** An inline comment of a review on a pull request (answerable through `.../comments/{id}/replies`); returns its id. */
  addReviewComment(repo: string, pullNumber: number, comment: { id?: number; path: string; line?: number; body: string; user?: string }): number {
    const id = comment.id ?? this.nextId++;
    const html_url = `${this.htmlBase()}/${repo}/pull/${pullNumber}#discussion_r${id}`;
    this.reviewComments.push({ repo, pullNumber, id, path: comment.path, line: comment.line, body: comment.body, user: comment.user ?? 'octocat', html_url });
    return id;
  }

  /** The replies posted to an inline comment. */
  repliesTo(commentId: number): FakeReviewComment[] {
    return this.reviewComments.filter((c) => c.inReplyTo === commentId);
  }

  url = '';
  readonly slug: string;
  /** The id of the App's bot user (`<slug>[bot]`). */
  readonly botUserId = 41898282;
  private readonly installations = new Map<string, { repo: string; id: number }>();
  private readonly permissions = new Map<string, FakePermission>();
  private readonly tokens = new Map<string, MintedToken>();
  private readonly userIds = new Map<string, number>();
  private server: Server | undefined;
  private nextId = 5_000_001;

  constructor(private readonly options: FakeGitHubOptions) {
    this.slug = options.slug ?? 'agentq-test';
    for (const [repo, id] of Object.entries(options.installations ?? {})) this.install(repo, id);
  }

  /** The bot's login, `<slug>[bot]`. */
  get botLogin(): string {
    return `${this.slug}[bot]`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.url = await listenOnLoopback(this.server);
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    const server = this.server;
    this.server = undefined;
    await closeServer(server);
  }

  install(repo: string, installationId: number): void {
    this.installations.set(repo.toLowerCase(), { repo, id: installationId });
  }

  uninstall(repo: string): void {
    this.installations.delete(repo.toLowerCase());
  }

  setPermission(repo: string, login: string, permission: FakePermission): void {
    this.permissions.set(`${repo.toLowerCase()}#${login.toLowerCase()}`, permission);
  }

  isValidToken(token: string, repo: string): boolean {
    const minted = this.tokens.get(token);
    return minted !== undefined && minted.expiresAt > Date.now() && minted.repos.has(repo.toLowerCase());
  }

  /** Makes every minted token invalid. */
  expireTokens(): void {
    this.tokens.clear();
  }

  /** An existing pull request (for PR-comment triggers). */
  addPull(repo: string, pull: { number: number; head: string; base: string; title?: string; body?: string; user?: string; draft?: boolean; headSha?: string; headRepo?: string }): void {
    this.pulls.push({
      repo,
      number: pull.number,
      title: pull.title ?? `Pull request ${pull.number}`,
      body: pull.body ?? '',
      head: pull.head,
      base: pull.base,
      draft: pull.draft ?? false,
      labels: [],
      html_url: `${this.htmlBase()}/${repo}/pull/${pull.number}`,
      user: pull.user ?? 'octocat',
      ...(pull.headSha === undefined ? {} : { headSha: pull.headSha }),
      ...(pull.headRepo === undefined ? {} : { headRepo: pull.headRepo }),
    });
  }

  /** A stable numeric id for a login (the bot's is `botUserId`). */
  userId(login: string): number {
    if (login.toLowerCase() === this.botLogin.toLowerCase()) return this.botUserId;
    let id = this.userIds.get(login.toLowerCase());
    if (id === undefined) {
      id = 1000 + this.userIds.size;
      this.userIds.set(login.toLowerCase(), id);
    }
    return id;
  }

  private htmlBase(): string {
    return (this.options.htmlUrl ?? 'https://github.com').replace(/\/+$/, '');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const method = (req.method ?? 'GET').toUpperCase();
    const [rawPath = '/', rawQuery = ''] = (req.url ?? '/').split('?', 2);
    const path = decodeURIComponent(rawPath);
    const query = new URLSearchParams(rawQuery);
    const authHeader = req.headers.authorization;
    const credential = typeof authHeader === 'string' ? /^(?:bearer|token)\s+(\S+)$/i.exec(authHeader)?.[1] : undefined;
    const auth: FakeGitHubCall['auth'] = credential === undefined ? 'none' : credential.split('.').length === 3 ? 'jwt' : 'token';
    const call: FakeGitHubCall = { method, path, status: 200, auth };
    this.calls.push(call);
    const send = (status: number, body: unknown) => {
      call.status = status;
      if (body instanceof RawAnswer) {
        res.writeHead(status, body.headers);
        res.end(body.text);
        return;
      }
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(status === 204 ? undefined : JSON.stringify(body));
    };
    try {
      let body: Record<string, unknown> = {};
      if (chunks.length > 0) {
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          throw new HttpError(400, 'Problems parsing JSON');
        }
      }
      const [status, answer] = await this.route(method, path, body, auth, credential, query);
      send(status, answer);
    } catch (err) {
      if (err instanceof HttpError) return send(err.status, { message: err.message, documentation_url: 'https://docs.github.com/rest' });
      send(500, { message: String(err) });
    }
  }

  private async route(
    method: string,
    path: string,
    body: Record<string, unknown>,
    auth: FakeGitHubCall['auth'],
    credential: string | undefined,
    query: URLSearchParams,
  ): Promise<[number, unknown]> {
    let m: RegExpExecArray | null;
    const is = (verb: string, re: RegExp) => {
      if (method !== verb) return false;
      m = re.exec(path);
      return m !== null;
    };
    const at = (i: number) => (m?.[i] ?? '') as string;

    if (is('GET', /^\/app$/)) {
      this.requireJwt(auth, credential);
      return [200, { id: this.options.appId, slug: this.slug, name: this.slug, owner: { login: 'agentq', id: 1, type: 'Organization' }, permissions: {}, events: [] }];
    }
    if (is('GET', /^\/repos\/([^/]+)\/([^/]+)\/installation$/)) {
      this.requireJwt(auth, credential);
      const found = this.installations.get(`${at(1)}/${at(2)}`.toLowerCase());
      if (!found) throw new HttpError(404, 'Not Found');
      return [200, { id: found.id, app_id: this.options.appId, app_slug: this.slug, account: { login: at(1), id: this.userId(at(1)) }, target_type: 'Organization', repository_selection: 'selected', permissions: {} }];
    }
    if (is('POST', /^\/app\/installations\/(\d+)\/access_tokens$/)) {
      this.requireJwt(auth, credential);
      return [201, this.mint(Number(at(1)), body)];
    }
    if (is('GET', /^\/users\/([^/]+)$/)) {
      const login = at(1);
      const bot = login.toLowerCase() === this.botLogin.toLowerCase();
      return [200, { login: bot ? this.botLogin : login, id: this.userId(login), type: bot ? 'Bot' : 'User' }];
    }

    if (is('GET', /^\/_downloads\/jobs\/(\d+)\/logs$/)) return this.jobLogDownload(Number(at(1)), query.get('sig'));

    const repoMatch = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(path);
    if (!repoMatch) throw new HttpError(404, 'Not Found');
    const repo = `${repoMatch[1]}/${repoMatch[2]}`;
    const installed = this.installations.get(repo.toLowerCase());
    const fullName = installed?.repo ?? repo;
    const token = this.requireToken(auth, credential, repo);

    if (is('GET', /^\/repos\/[^/]+\/[^/]+$/)) {
      this.requirePermission(token, 'metadata', 'read');
      const [owner = '', name = ''] = fullName.split('/');
      return [200, { id: this.userId(`repo:${fullName}`), name, full_name: fullName, owner: { login: owner }, private: true, default_branch: this.options.defaultBranch ?? 'main', html_url: `${this.htmlBase()}/${fullName}` }];
    }
    if (is('GET', /^\/repos\/[^/]+\/[^/]+\/collaborators\/([^/]+)\/permission$/)) {
      this.requirePermission(token, 'metadata', 'read');
      const login = at(1);
      const role = this.permissions.get(`${repo.toLowerCase()}#${login.toLowerCase()}`) ?? 'none';
      return [200, { permission: PERMISSION_FIELD[role], role_name: role === 'none' ? 'none' : role, user: { login, id: this.userId(login), type: 'User' } }];
    }
    if (is('POST', /^\/repos\/[^/]+\/[^/]+\/pulls$/)) {
      this.requirePermission(token, 'pull_requests', 'write');
      return [201, this.createPull(fullName, body)];
    }
    if (is('GET', /^\/repos\/[^/]+\/[^/]+\/pulls\/(\d+)$/)) {
      this.requirePermission(token, 'pull_requests', 'read');
      const pull = this.findPull(repo, Number(at(1)));
      if (!pull) throw new HttpError(404, 'Not Found');
      return [200, this.pullJson({ ...pull, headSha: await this.headShaOf(pull) })];
    }
    if (is('POST', /^\/repos\/[^/]+\/[^/]+\/issues\/(\d+)\/comments$/)) {
      const number = Number(at(1));
      this.requireIssueWrite(token, repo, number);
      if (typeof body.body !== 'string' || body.body.length === 0) throw new HttpError(422, 'Validation Failed');
      const id = this.nextId++;
      const comment: FakeComment = { repo: fullName, issueNumber: number, body: body.body, id, html_url: `${this.htmlBase()}/${fullName}/issues/${number}#issuecomment-${id}`, user: this.botLogin };
      this.comments.push(comment);
      return [201, { id, html_url: comment.html_url, body: comment.body, user: this.userJson(this.botLogin), created_at: new Date().toISOString() }];
    }
    if (is('POST', /^\/repos\/[^/]+\/[^/]+\/issues\/(\d+)\/labels$/)) {
      const number = Number(at(1));
      this.requireIssueWrite(token, repo, number);
      const labels = Array.isArray(body.labels) ? body.labels.map((l) => (typeof l === 'string' ? l : String((l as { name?: unknown }).name))) : [];
      const pull = this.findPull(repo, number);
      if (pull) for (const l of labels) if (!pull.labels.includes(l)) pull.labels.push(l);
      return [200, (pull?.labels ?? labels).map((name, i) => ({ id: i + 1, name, color: 'ededed', default: false }))];
    }
    if (is('POST', /^\/repos\/[^/]+\/[^/]+\/issues\/comments\/(\d+)\/reactions$/)) {
      if (!token.permissions.issues && !token.permissions.pull_requests) throw new HttpError(403, 'Resource not accessible by integration');
      return this.react(body, { repo: fullName, subject: 'comment', commentType: 'issue', id: Number(at(1)) });
    }
    if (is('POST', /^\/repos\/[^/]+\/[^/]+\/pulls\/comments\/(\d+)\/reactions$/)) {
      this.requirePermission(token, 'pull_requests', 'write');
      return this.react(body, { repo: fullName, subject: 'comment', commentType: 'review', id: Number(at(1)) });
    }
    if (is('POST', /^\/repos\/[^/]+\/[^/]+\/pulls\/(\d+)\/comments\/(\d+)\/replies$/)) {
      this.requirePermission(token, 'pull_requests', 'write');
      return [201, this.replyToReviewComment(repo, Number(at(1)), Number(at(2)), body)];
    }
    if (is('POST', /^\/repos\/[^/]+\/[^/]+\/issues\/(\d+)\/reactions$/)) {
      const number = Number(at(1));
      this.requireIssueWrite(token, repo, number);
      return this.react(body, { repo: fullName, subject: 'issue', id: number });
    }
    if (is('GET', /^\/repos\/[^/]+\/[^/]+\/git\/ref\/heads\/(.+)$/)) {
      this.requirePermission(token, 'contents', 'read');
      return [200, await this.branchRef(fullName, decodeURIComponent(at(1)))];
    }
    if (is('GET', /^\/repos\/[^/]+\/[^/]+\/contents\/(.+)$/)) {
      this.requirePermission(token, 'contents', 'read');
      return [200, await this.contents(fullName, at(1), query.get('ref') ?? undefined)];
    }
    // the Checks, Actions and review endpoints of pull requests' CI and reviews
    if (is('GET', /^\/repos\/[^/]+\/[^/]+\/commits\/([^/]+)\/check-runs$/)) {
      this.requirePermission(token, 'checks', 'read');
      const runs = this.checkRuns.filter((r) => r.repo.toLowerCase() === repo.toLowerCase() && r.headSha === at(1));
      return [200, { total_count: runs.length, check_runs: pageOf(runs, query).map((r) => this.checkRunJson(r)) }];
    }
    if (is('GET', /^\/repos\/[^/]+\/[^/]+\/actions\/jobs\/(\d+)$/)) {
      this.requirePermission(token, 'actions', 'read');
      return [200, this.jobJson(this.actionsJob(repo, Number(at(1))))];
    }
    if (is('GET', /^\/repos\/[^/]+\/[^/]+\/actions\/jobs\/(\d+)\/logs$/)) {
      this.requirePermission(token, 'actions', 'read');
      const job = this.actionsJob(repo, Number(at(1)));
      const location = `${this.url}/_downloads/jobs/${job.id}/logs?sig=${this.downloadSignature(job.id)}`;
      return [302, new RawAnswer({ location, 'content-type': 'text/html; charset=utf-8' }, '')];
    }
    if (is('GET', /^\/repos\/[^/]+\/[^/]+\/pulls\/(\d+)\/reviews\/(\d+)\/comments$/)) {
      this.requirePermission(token, 'pull_requests', 'read');
      const review = this.reviews.find((r) => r.repo.toLowerCase() === repo.toLowerCase() && r.pullNumber === Number(at(1)) && r.id === Number(at(2)));
      if (!review) throw new HttpError(404, 'Not Found');
      return [200, pageOf(review.comments, query).map((c) => this.reviewCommentJson(review, c))];
    }
    throw new HttpError(404, 'Not Found');
  }

  private requireJwt(auth: FakeGitHubCall['auth'], credential: string | undefined): void {
    if (auth !== 'jwt' || credential === undefined) throw new HttpError(401, 'A JSON web token could not be decoded');
    const [header = '', payload = '', signature = ''] = credential.split('.');
    let claims: { iss?: unknown; iat?: unknown; exp?: unknown };
    try {
      const head = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: unknown };
      if (head.alg !== 'RS256') throw new Error('alg');
      const verifier = createVerify('RSA-SHA256');
      verifier.update(`${header}.${payload}`);
      if (!verifier.verify(this.options.publicKey, Buffer.from(signature, 'base64url'))) throw new Error('signature');
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      throw new HttpError(401, 'A JSON web token could not be decoded');
    }
    const now = Math.floor(Date.now() / 1000);
    if (String(claims.iss) !== String(this.options.appId)) throw new HttpError(401, "'Issuer' claim ('iss') must be an Integer");
    if (typeof claims.iat !== 'number' || claims.iat > now + 60) throw new HttpError(401, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued");
    if (typeof claims.exp !== 'number' || claims.exp <= now || claims.exp - claims.iat > 660) {
      throw new HttpError(401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires");
    }
  }

  private requireToken(auth: FakeGitHubCall['auth'], credential: string | undefined, repo: string): MintedToken {
    const minted = auth === 'token' && credential !== undefined ? this.tokens.get(credential) : undefined;
    if (!minted || minted.expiresAt <= Date.now()) throw new HttpError(401, 'Bad credentials');
    if (!minted.repos.has(repo.toLowerCase())) throw new HttpError(403, 'Resource not accessible by integration');
    return minted;
  }

  private requirePermission(token: MintedToken, name: string, level: 'read' | 'write'): void {
    const granted = token.permissions[name];
    if (granted === 'write' || (level === 'read' && granted === 'read') || (name === 'metadata' && granted === undefined)) return;
    throw new HttpError(403, 'Resource not accessible by integration');
  }

  /** Issue endpoints on a pull request accept `pull_requests: write` too, as on GitHub. */
  private requireIssueWrite(token: MintedToken, repo: string, number: number): void {
    if (token.permissions.issues === 'write') return;
    if (this.findPull(repo, number) && token.permissions.pull_requests === 'write') return;
    throw new HttpError(403, 'Resource not accessible by integration');
  }

  private mint(installationId: number, body: Record<string, unknown>): unknown {
    const repos = [...this.installations.values()].filter((i) => i.id === installationId);
    if (repos.length === 0) throw new HttpError(404, 'Not Found');
    const asked = Array.isArray(body.repositories) ? body.repositories.map(String) : undefined;
    const permissions = body.permissions && typeof body.permissions === 'object' ? Object.fromEntries(Object.entries(body.permissions as Record<string, unknown>).map(([k, v]) => [k, String(v)])) : undefined;
    const granted = asked === undefined ? repos : asked.map((name) => repos.find((r) => r.repo.split('/')[1]?.toLowerCase() === name.toLowerCase()));
    if (granted.some((r) => r === undefined)) throw new HttpError(422, 'There is at least one repository that does not exist or is not accessible to the parent installation.');
    const token = `ghs_${randomBytes(18).toString('base64url').replace(/[-_]/g, 'x')}`;
    const ttl = (this.options.tokenTtlSec ?? 3600) * 1000;
    const expiresAt = Date.now() + ttl;
    const effective = permissions ?? { contents: 'write', pull_requests: 'write', issues: 'write', metadata: 'read' };
    this.tokens.set(token, { installationId, repos: new Set(granted.map((r) => (r as { repo: string }).repo.toLowerCase())), permissions: effective, expiresAt });
    this.tokenRequests.push({ installationId, ...(asked === undefined ? {} : { repositories: asked }), ...(permissions === undefined ? {} : { permissions }), token });
    return {
      token,
      expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      permissions: effective,
      repository_selection: 'selected',
      repositories: granted.map((r) => {
        const full = (r as { repo: string }).repo;
        return { name: full.split('/')[1], full_name: full };
      }),
    };
  }

  /** A regular file of a served repository at a ref (the default branch when none), in the JSON form. */
  /** The bare repository of `owner/name` under `repositories`; a 404 when there is none to serve. */
  private repoDir(repo: string): string {
    const root = this.options.repositories;
    const [owner = '', name = ''] = repo.split('/');
    if (!root || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(owner) || !/^[A-Za-z0-9._-]+$/.test(name) || name === '..') throw new HttpError(404, 'Not Found');
    return join(root, owner, `${name}.git`);
  }

  /** `GET /repos/{o}/{r}/git/ref/heads/{branch}`, read from the served bare repository. */
  private async branchRef(repo: string, branch: string): Promise<unknown> {
    const dir = this.repoDir(repo);
    const found = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`], { cwd: dir }).catch(() => undefined);
    const sha = found?.stdout.trim();
    if (!sha || !/^[0-9a-f]{40}$/.test(sha)) throw new HttpError(404, 'Not Found');
    return { ref: `refs/heads/${branch}`, url: `${this.url}/repos/${repo}/git/refs/heads/${branch}`, object: { type: 'commit', sha, url: `${this.url}/repos/${repo}/git/commits/${sha}` } };
  }

  private async contents(repo: string, path: string, ref: string | undefined): Promise<unknown> {
    const dir = this.repoDir(repo);
    let file;
    try {
      file = await readRepoFile(dir, ref, path, CONTENTS_MAX_BYTES);
    } catch {
      file = undefined;
    }
    if (!file) throw new HttpError(404, 'Not Found');
    const url = `${this.url}/repos/${repo}/contents/${path}${ref === undefined ? '' : `?ref=${encodeURIComponent(ref)}`}`;
    const base64 = file.content === undefined ? '' : Buffer.from(file.content, 'utf8').toString('base64').replace(/.{60}/g, '$&\n');
    return {
      type: 'file',
      encoding: file.content === undefined ? 'none' : 'base64',
      size: file.size,
      name: path.split('/').pop(),
      path,
      content: base64,
      sha: file.sha,
      url,
      html_url: `${this.htmlBase()}/${repo}/blob/${ref ?? this.options.defaultBranch ?? 'main'}/${path}`,
      download_url: null,
    };
  }

  private findPull(repo: string, number: number): FakePull | undefined {
    return this.pulls.find((p) => p.repo.toLowerCase() === repo.toLowerCase() && p.number === number);
  }

  private createPull(repo: string, body: Record<string, unknown>): unknown {
    const { title, head, base } = body;
    if (typeof title !== 'string' || typeof head !== 'string' || typeof base !== 'string' || !title || !head || !base) throw new HttpError(422, 'Validation Failed');
    if (this.pulls.some((p) => p.repo.toLowerCase() === repo.toLowerCase() && p.head === head)) throw new HttpError(422, `A pull request already exists for ${repo.split('/')[0]}:${head}.`);
    const numbers = this.pulls.filter((p) => p.repo.toLowerCase() === repo.toLowerCase()).map((p) => p.number);
    const number = Math.max(1000, ...numbers) + 1;
    const pull: FakePull = {
      repo,
      number,
      title,
      body: typeof body.body === 'string' ? body.body : '',
      head,
      base,
      draft: body.draft === true,
      labels: [],
      html_url: `${this.htmlBase()}/${repo}/pull/${number}`,
      user: this.botLogin,
    };
    this.pulls.push(pull);
    return this.pullJson(pull);
  }

  private pullJson(pull: FakePull): unknown {
    const [owner = ''] = pull.repo.split('/');
    return {
      id: 9_000_000 + pull.number,
      number: pull.number,
      state: pull.state ?? 'open',
      title: pull.title,
      body: pull.body,
      draft: pull.draft,
      html_url: pull.html_url,
      url: `${this.url}/repos/${pull.repo}/pulls/${pull.number}`,
      user: this.userJson(pull.user),
      labels: pull.labels.map((name, i) => ({ id: i + 1, name })),
      head: { ref: pull.head, label: `${owner}:${pull.head}`, sha: pull.headSha ?? null, repo: { full_name: pull.headRepo ?? pull.repo } },
      base: { ref: pull.base, label: `${owner}:${pull.base}`, repo: { full_name: pull.repo } },
    };
  }

  /** A reply in the thread of an inline comment of the pull request (404 for a comment not on it, as on GitHub). */
  private replyToReviewComment(repo: string, pullNumber: number, commentId: number, body: Record<string, unknown>): unknown {
    const parent = this.reviewComments.find((c) => c.repo.toLowerCase() === repo.toLowerCase() && c.pullNumber === pullNumber && c.id === commentId);
    if (!parent || !this.findPull(repo, pullNumber)) throw new HttpError(404, 'Not Found');
    if (typeof body.body !== 'string' || body.body.length === 0) throw new HttpError(422, 'Validation Failed');
    const id = this.nextId++;
    const reply: FakeReviewComment = {
      repo: parent.repo,
      pullNumber,
      id,
      path: parent.path,
      line: parent.line,
      body: body.body,
      user: this.botLogin,
      inReplyTo: parent.inReplyTo ?? parent.id,
      html_url: `${this.htmlBase()}/${parent.repo}/pull/${pullNumber}#discussion_r${id}`,
    };
    this.reviewComments.push(reply);
    return { id, in_reply_to_id: reply.inReplyTo, body: reply.body, path: reply.path, line: reply.line ?? null, html_url: reply.html_url, user: this.userJson(this.botLogin), created_at: new Date().toISOString() };
  }

  private userJson(login: string): unknown {
    return { login, id: this.userId(login), type: login.endsWith('[bot]') ? 'Bot' : 'User' };
  }

  private react(body: Record<string, unknown>, reaction: Omit<FakeReaction, 'content'>): [number, unknown] {
    const content = body.content;
    if (typeof content !== 'string' || !REACTIONS.has(content)) throw new HttpError(422, 'Validation Failed');
    this.reactions.push({ ...reaction, content });
    return [201, { id: this.nextId++, content, user: this.userJson(this.botLogin), created_at: new Date().toISOString() }];
  }

  /** Sets what a test changes on a pull request: its state, labels, head commit, the repository of its head branch. */
  setPull(repo: string, number: number, patch: Partial<Pick<FakePull, 'state' | 'labels' | 'headSha' | 'headRepo'>>): void {
    const pull = this.findPull(repo, number);
    if (!pull) throw new Error(`no pull request ${repo}#${number}`);
    Object.assign(pull, patch);
  }

  /** The comments on an issue or pull request, oldest first. */
  commentsOn(repo: string, number: number): FakeComment[] {
    return this.comments.filter((c) => c.repo.toLowerCase() === repo.toLowerCase() && c.issueNumber === number);
  }

  /** Adds a check run of a commit (completed with `conclusion` when given, else in progress); its id is the Actions job id. */
  addCheckRun(
    repo: string,
    run: { headSha: string; name: string; conclusion?: string; status?: FakeCheckRun['status']; output?: Partial<FakeCheckRun['output']>; appSlug?: string; steps?: FakeCheckRun['steps']; log?: string },
  ): FakeCheckRun {
    const id = this.nextId++;
    const actions = (run.appSlug ?? 'github-actions') === 'github-actions';
    const added: FakeCheckRun = {
      id,
      repo,
      headSha: run.headSha,
      name: run.name,
      status: run.status ?? (run.conclusion === undefined ? 'in_progress' : 'completed'),
      conclusion: run.conclusion ?? null,
      html_url: actions ? `${this.htmlBase()}/${repo}/actions/runs/${id + 1}/job/${id}` : `${this.htmlBase()}/${repo}/runs/${id}`,
      details_url: actions ? `${this.htmlBase()}/${repo}/actions/runs/${id + 1}/job/${id}` : `https://ci.example.com/builds/${id}`,
      output: { title: null, summary: null, text: null, ...run.output },
      appSlug: run.appSlug ?? 'github-actions',
      steps: run.steps ?? [],
      log: run.log ?? '',
    };
    this.checkRuns.push(added);
    return added;
  }

  /** Ends a check run with a conclusion. */
  completeCheckRun(id: number, conclusion: string): void {
    const run = this.checkRuns.find((r) => r.id === id);
    if (!run) throw new Error(`no check run ${id}`);
    run.status = 'completed';
    run.conclusion = conclusion;
  }

  /** Adds a submitted review of a pull request, with its inline comments. */
  addReview(repo: string, pullNumber: number, review: { state: string; body?: string; user?: string; comments?: { path: string; line?: number; body: string }[] }): FakeReview {
    const id = this.nextId++;
    const html = `${this.htmlBase()}/${repo}/pull/${pullNumber}`;
    const added: FakeReview = {
      id,
      repo,
      pullNumber,
      state: review.state,
      body: review.body ?? '',
      user: review.user ?? 'octocat',
      html_url: `${html}#pullrequestreview-${id}`,
      comments: (review.comments ?? []).map((c) => {
        // also an inline comment of the pull request, which replies can answer
        const commentId = this.addReviewComment(repo, pullNumber, { path: c.path, line: c.line, body: c.body, user: review.user });
        return { id: commentId, path: c.path, line: c.line ?? null, body: c.body, html_url: `${html}#discussion_r${commentId}` };
      }),
    };
    this.reviews.push(added);
    return added;
  }

  private checkRunJson(run: FakeCheckRun): unknown {
    return {
      id: run.id,
      name: run.name,
      head_sha: run.headSha,
      status: run.status,
      conclusion: run.conclusion,
      html_url: run.html_url,
      details_url: run.details_url,
      started_at: new Date().toISOString(),
      completed_at: run.status === 'completed' ? new Date().toISOString() : null,
      output: { ...run.output, annotations_count: 0 },
      app: { id: run.appSlug === 'github-actions' ? 15368 : 99, slug: run.appSlug, name: run.appSlug },
      check_suite: { id: run.id + 1 },
      pull_requests: [],
    };
  }

  private actionsJob(repo: string, id: number): FakeCheckRun {
    const job = this.checkRuns.find((r) => r.id === id && r.appSlug === 'github-actions' && r.repo.toLowerCase() === repo.toLowerCase());
    if (!job) throw new HttpError(404, 'Not Found');
    return job;
  }

  private jobJson(job: FakeCheckRun): unknown {
    return {
      id: job.id,
      run_id: job.id + 1,
      head_sha: job.headSha,
      name: job.name,
      status: job.status,
      conclusion: job.conclusion,
      html_url: job.html_url,
      steps: job.steps,
    };
  }

  private downloadSignature(id: number): string {
    return createHash('sha256').update(`${this.options.appId}:${id}`).digest('hex').slice(0, 32);
  }

  /** The signed download URL a job's logs redirect to: no token needed, the signature is the credential. */
  private jobLogDownload(id: number, signature: string | null): [number, unknown] {
    const job = this.checkRuns.find((r) => r.id === id && r.appSlug === 'github-actions');
    if (!job || signature !== this.downloadSignature(id)) throw new HttpError(404, 'Not Found');
    return [200, new RawAnswer({ 'content-type': 'text/plain; charset=utf-8' }, job.log)];
  }

  private reviewCommentJson(review: FakeReview, comment: FakeReview['comments'][number]): unknown {
    return {
      id: comment.id,
      pull_request_review_id: review.id,
      path: comment.path,
      line: comment.line,
      original_line: comment.line,
      side: 'RIGHT',
      body: comment.body,
      html_url: comment.html_url,
      user: this.userJson(review.user),
      created_at: new Date().toISOString(),
    };
  }

  /** The head commit of a pull request: set by a test, else the head branch of the served repository, else made up from its name. */
  private async headShaOf(pull: FakePull): Promise<string> {
    if (pull.headSha !== undefined) return pull.headSha;
    if (this.options.repositories) {
      const found = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${pull.head}^{commit}`], { cwd: this.repoDir(pull.headRepo ?? pull.repo) }).catch(() => undefined);
      const sha = found?.stdout.trim();
      if (sha && /^[0-9a-f]{40}$/.test(sha)) return sha;
    }
    return createHash('sha1').update(`${pull.repo}#${pull.number}:${pull.head}`).digest('hex');
  }
}
