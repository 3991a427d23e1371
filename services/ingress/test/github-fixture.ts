import { createHmac, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { FakeGitHub, generateAppKeyPair } from '@agentq/shared/testing';
import type { WebhookDefinition } from '@octokit/webhooks-examples';
import type { LightMyRequestResponse } from 'fastify';
import { startIngress, type IngressFixture } from './ingress-fixture.js';

export const WEBHOOK_SECRET = 'github-webhook-secret-for-tests';
export const APP_ID = 4242;
export const REPO = 'octo/widgets';
export const INSTALLATION = 101;
export const WRITER = 'wanda';
export const READER = 'reggie';
export const TRIGGER_LABEL = 'agentq';

export interface GitHubFixture extends IngressFixture {
  fake: FakeGitHub;
}

/** The example payloads GitHub documents, as `@octokit/webhooks-examples` exports them. */
const examples = createRequire(import.meta.url)('@octokit/webhooks-examples') as WebhookDefinition[];

let keys: { privateKey: string; publicKey: string } | undefined;

/**
 * An ingress with a GitHub App configured, talking to a fresh fake GitHub API on which the App is
 * installed on `REPO`. A variable given as '' in `env` is left unset.
 */
export async function startGitHubIngress(redisUrl: string, env: Record<string, string> = {}): Promise<GitHubFixture> {
  keys ??= generateAppKeyPair();
  const fake = await new FakeGitHub({ appId: APP_ID, publicKey: keys.publicKey, installations: { [REPO]: INSTALLATION } }).start();
  fake.setPermission(REPO, WRITER, 'write');
  fake.setPermission(REPO, READER, 'read');
  let fx: IngressFixture;
  try {
    const all: Record<string, string> = {
      GITHUB_APP_ID: String(APP_ID),
      GITHUB_APP_PRIVATE_KEY: keys.privateKey,
      GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
      GITHUB_API_URL: fake.url,
      AGENTQ_GITHUB_TRIGGER_LABEL: TRIGGER_LABEL,
      ...env,
    };
    fx = await startIngress(redisUrl, { env: Object.fromEntries(Object.entries(all).filter(([, v]) => v !== '')) });
  } catch (err) {
    await fake.stop();
    throw err;
  }
  return {
    ...fx,
    fake,
    close: async () => {
      await fx.close();
      await fake.stop();
    },
  };
}

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
  retarget(payload, options.repo ?? REPO);
  payload.issue.number = issueNumber;
  if (options.pullRequest) {
    payload.issue.pull_request = { url: `https://api.github.com/repos/${REPO}/pulls/${issueNumber}`, html_url: `https://github.com/${REPO}/pull/${issueNumber}` };
  } else {
    delete payload.issue.pull_request;
  }
  payload.comment.id = options.commentId ?? freshNumber() * 1000;
  payload.comment.body = body;
  payload.comment.user = { ...payload.comment.user, ...user(options.login ?? WRITER, options.userType) };
  payload.sender = { ...payload.sender, ...user(options.login ?? WRITER, options.userType) };
  return payload;
}

/** `issues.labeled`, from GitHub's example. */
export function issueLabeled(issueNumber: number, label: string, issue: { title: string; body: string }, login = WRITER): ExamplePayload {
  const payload = example('issues', 'labeled');
  retarget(payload, REPO);
  payload.issue.number = issueNumber;
  payload.issue.title = issue.title;
  payload.issue.body = issue.body;
  payload.label = { ...payload.label, name: label };
  payload.sender = { ...payload.sender, ...user(login) };
  return payload;
}

/** `pull_request_review_comment.created`, from GitHub's example. */
export function reviewComment(pullNumber: number, body: string, login = WRITER): ExamplePayload {
  const payload = example('pull_request_review_comment', 'created');
  retarget(payload, REPO);
  payload.pull_request.number = pullNumber;
  payload.comment.id = freshNumber() * 1000;
  payload.comment.body = body;
  payload.comment.user = { ...payload.comment.user, ...user(login) };
  payload.sender = { ...payload.sender, ...user(login) };
  return payload;
}

export interface DeliverOptions {
  deliveryId?: string;
  /** Signs with this secret instead. */
  secret?: string;
  /** Sends no signature. */
  unsigned?: boolean;
}

/** Sends a delivery the way GitHub does: JSON body, `X-Hub-Signature-256`, `X-GitHub-Event`, `X-GitHub-Delivery`. */
export async function deliver(
  fx: IngressFixture,
  event: string,
  payload: object,
  options: DeliverOptions = {},
): Promise<LightMyRequestResponse> {
  const body = JSON.stringify(payload);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-github-event': event,
    'x-github-delivery': options.deliveryId ?? randomUUID(),
    'user-agent': 'GitHub-Hookshot/test',
  };
  if (!options.unsigned) {
    headers['x-hub-signature-256'] = `sha256=${createHmac('sha256', options.secret ?? WEBHOOK_SECRET).update(body).digest('hex')}`;
  }
  return fx.app.inject({ method: 'POST', url: '/github/webhooks', headers, payload: body });
}
