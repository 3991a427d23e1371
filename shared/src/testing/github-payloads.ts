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
