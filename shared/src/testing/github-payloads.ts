import { createRequire } from 'node:module';
import type { WebhookDefinition } from '@octokit/webhooks-examples';

/** Repository and commenter of the example payloads unless told otherwise. */
export const EXAMPLE_REPO = 'octo/widgets';
export const EXAMPLE_LOGIN = 'wanda';

/** The example payloads GitHub documents, as `@octokit/webhooks-examples` exports them. */
const examples = createRequire(import.meta.url)('@octokit/webhooks-examples') as WebhookDefinition[];

interface User {
  login: string;
  id: number;
  [field: string]: unknown;
}

/** The parts of GitHub's example payloads the tests change or read. */
export interface ExamplePayload {
  action: string;
  repository: { full_name: string; name: string; owner: { login: string } };
  issue: { number: number; title: string; body: string | null; pull_request?: unknown };
  pull_request: { number: number };
  comment: { id: number; body: string; user: User };
  label: { name: string };
  sender: User;
  [field: string]: unknown;
}

/** A copy of the first example GitHub documents for this event and action. */
function example(event: string, action: string): ExamplePayload {
  const definition = examples.find((d) => d.name === event);
  const found = (definition?.examples as unknown as ExamplePayload[] | undefined)?.find((e) => e.action === action);
  if (!found) throw new Error(`no example for ${event}.${action}`);
  return structuredClone(found);
}

function retarget(payload: ExamplePayload, repo: string): void {
  const [owner = '', name = ''] = repo.split('/');
  payload.repository.full_name = repo;
  payload.repository.name = name;
  payload.repository.owner.login = owner;
}

function user(login: string, type = 'User'): User {
  return { login, id: 1000 + [...login].reduce((a, c) => a + c.charCodeAt(0), 0), type, site_admin: false };
}

export interface CommentOptions {
  repo?: string;
  login?: string;
  userType?: string;
  /** The issue is a pull request. */
  pullRequest?: boolean;
  commentId?: number;
}

let nextNumber = 100;
export const freshNumber = () => ++nextNumber;

/** `issue_comment.created`, from GitHub's example, on `issueNumber`. */
export function issueComment(issueNumber: number, body: string, options: CommentOptions = {}): ExamplePayload {
  const payload = example('issue_comment', 'created');
  retarget(payload, options.repo ?? EXAMPLE_REPO);
  payload.issue.number = issueNumber;
  if (options.pullRequest) {
    payload.issue.pull_request = { url: `https://api.github.com/repos/${options.repo ?? EXAMPLE_REPO}/pulls/${issueNumber}`, html_url: `https://github.com/${options.repo ?? EXAMPLE_REPO}/pull/${issueNumber}` };
  } else {
    delete payload.issue.pull_request;
  }
  payload.comment.id = options.commentId ?? freshNumber() * 1000;
  payload.comment.body = body;
  payload.comment.user = { ...payload.comment.user, ...user(options.login ?? EXAMPLE_LOGIN, options.userType) };
  payload.sender = { ...payload.sender, ...user(options.login ?? EXAMPLE_LOGIN, options.userType) };
  return payload;
}

/** `issues.labeled`, from GitHub's example. */
export function issueLabeled(issueNumber: number, label: string, issue: { title: string; body: string }, login = EXAMPLE_LOGIN): ExamplePayload {
  const payload = example('issues', 'labeled');
  retarget(payload, EXAMPLE_REPO);
  payload.issue.number = issueNumber;
  payload.issue.title = issue.title;
  payload.issue.body = issue.body;
  payload.label = { ...payload.label, name: label };
  payload.sender = { ...payload.sender, ...user(login) };
  return payload;
}

/** `pull_request_review_comment.created`, from GitHub's example. */
export function reviewComment(pullNumber: number, body: string, login = EXAMPLE_LOGIN): ExamplePayload {
  const payload = example('pull_request_review_comment', 'created');
  retarget(payload, EXAMPLE_REPO);
  payload.pull_request.number = pullNumber;
  payload.comment.id = freshNumber() * 1000;
  payload.comment.body = body;
  payload.comment.user = { ...payload.comment.user, ...user(login) };
  payload.sender = { ...payload.sender, ...user(login) };
  return payload;
}

/** A delivery's payload as sent, for events the tests only build and send. */
export type EventPayload = Record<string, unknown>;

/** A copy of GitHub's example for `event.action`, moved to `repo`, as a loose payload. */
function loose(event: string, action: string, repo: string): EventPayload {
  const payload = example(event, action);
  retarget(payload, repo);
  return payload as unknown as EventPayload;
}

/** The `pull_requests` list of a check or workflow delivery (GitHub leaves pull requests from forks out). */
function pullRefs(repo: string, headSha: string, numbers: number[]): unknown[] {
  return numbers.map((number) => ({
    url: `https://api.github.com/repos/${repo}/pulls/${number}`,
    id: 279_000_000 + number,
    number,
    head: { ref: `branch-${number}`, sha: headSha, repo: { id: 1, url: `https://api.github.com/repos/${repo}`, name: repo.split('/')[1] } },
    base: { ref: 'main', sha: '0'.repeat(40), repo: { id: 1, url: `https://api.github.com/repos/${repo}`, name: repo.split('/')[1] } },
  }));
}

export interface CheckOptions {
  repo?: string;
  conclusion?: string;
  name?: string;
  id?: number;
}

/** `check_suite.completed`, from GitHub's example, for a commit and the pull requests it heads. */
export function checkSuiteCompleted(headSha: string, pulls: number[], options: CheckOptions = {}): EventPayload {
  const repo = options.repo ?? EXAMPLE_REPO;
  const payload = loose('check_suite', 'completed', repo);
  const suite = payload.check_suite as Record<string, unknown>;
  Object.assign(suite, { head_sha: headSha, pull_requests: pullRefs(repo, headSha, pulls), conclusion: options.conclusion ?? 'failure', status: 'completed' });
  return payload;
}

/** `check_run.completed`, from GitHub's example. */
export function checkRunCompleted(headSha: string, pulls: number[], options: CheckOptions = {}): EventPayload {
  const repo = options.repo ?? EXAMPLE_REPO;
  const payload = loose('check_run', 'completed', repo);
  const run = payload.check_run as Record<string, unknown>;
  Object.assign(run, {
    id: options.id ?? freshNumber(),
    name: options.name ?? 'test',
    head_sha: headSha,
    pull_requests: pullRefs(repo, headSha, pulls),
    conclusion: options.conclusion ?? 'failure',
    status: 'completed',
  });
  return payload;
}

/** `workflow_run.completed`, from GitHub's example. */
export function workflowRunCompleted(headSha: string, pulls: number[], options: CheckOptions = {}): EventPayload {
  const repo = options.repo ?? EXAMPLE_REPO;
  const payload = loose('workflow_run', 'completed', repo);
  const run = payload.workflow_run as Record<string, unknown>;
  Object.assign(run, { head_sha: headSha, pull_requests: pullRefs(repo, headSha, pulls), conclusion: options.conclusion ?? 'failure', status: 'completed' });
  return payload;
}

export interface ReviewOptions {
  repo?: string;
  login?: string;
  userType?: string;
  state?: string;
  body?: string | null;
}

/** `pull_request_review.submitted`, from GitHub's example (state `changes_requested` unless told). */
export function pullRequestReview(pullNumber: number, reviewId: number, options: ReviewOptions = {}): EventPayload {
  const repo = options.repo ?? EXAMPLE_REPO;
  const payload = loose('pull_request_review', 'submitted', repo);
  const login = options.login ?? EXAMPLE_LOGIN;
  (payload.pull_request as Record<string, unknown>).number = pullNumber;
  Object.assign(payload.review as Record<string, unknown>, {
    id: reviewId,
    state: options.state ?? 'changes_requested',
    body: options.body === undefined ? 'Please fix these.' : options.body,
    html_url: `https://github.com/${repo}/pull/${pullNumber}#pullrequestreview-${reviewId}`,
    user: user(login, options.userType),
  });
  payload.sender = user(login, options.userType);
  return payload;
}

export interface PullEventOptions {
  repo?: string;
  login?: string;
  userType?: string;
}

function pullEvent(action: string, pullNumber: number, options: PullEventOptions): EventPayload {
  const repo = options.repo ?? EXAMPLE_REPO;
  const payload = loose('pull_request', action, repo);
  payload.number = pullNumber;
  (payload.pull_request as Record<string, unknown>).number = pullNumber;
  payload.sender = user(options.login ?? EXAMPLE_LOGIN, options.userType);
  return payload;
}

/** `pull_request.labeled` with `label`, from GitHub's example. */
export function pullRequestLabeled(pullNumber: number, label: string, options: PullEventOptions = {}): EventPayload {
  const payload = pullEvent('labeled', pullNumber, options);
  payload.label = { ...(payload.label as object), name: label };
  return payload;
}

/** `pull_request.closed`, from GitHub's example. */
export function pullRequestClosed(pullNumber: number, options: PullEventOptions = {}): EventPayload {
  return pullEvent('closed', pullNumber, options);
}

/** `pull_request.synchronize` (a push to the head branch), from GitHub's example. */
export function pullRequestSynchronize(pullNumber: number, after: string, options: PullEventOptions = {}): EventPayload {
  const payload = pullEvent('synchronize', pullNumber, options);
  payload.after = after;
  return payload;
}
