import { createHmac, randomUUID } from 'node:crypto';
import { EXAMPLE_LOGIN, EXAMPLE_REPO, FakeGitHub, generateAppKeyPair } from '@agentq/shared/testing';

export {
  checkRunCompleted,
  checkSuiteCompleted,
  freshNumber,
  issueComment,
  issueLabeled,
  pullRequestClosed,
  pullRequestLabeled,
  pullRequestReview,
  pullRequestSynchronize,
  reviewComment,
  workflowRunCompleted,
  type CommentOptions,
  type ExamplePayload,
} from '@agentq/shared/testing';
import type { LightMyRequestResponse } from 'fastify';
import { startIngress, type IngressFixture } from './ingress-fixture.js';

export const WEBHOOK_SECRET = 'github-webhook-secret-for-tests';
export const APP_ID = 4242;
export const REPO = EXAMPLE_REPO;
export const INSTALLATION = 101;
export const WRITER = EXAMPLE_LOGIN;
export const READER = 'reggie';
export const TRIGGER_LABEL = 'agentq';

export interface GitHubFixture extends IngressFixture {
  fake: FakeGitHub;
}

let keys: { privateKey: string; publicKey: string } | undefined;

/**
 * An ingress with a GitHub App configured, talking to a fresh fake GitHub API on which the App is
 * installed on `REPO`. A variable given as '' in `env` is left unset.
 */
export async function startGitHubIngress(redisUrl: string, env: Record<string, string> = {}, options: { repositories?: string } = {}): Promise<GitHubFixture> {
  keys ??= generateAppKeyPair();
  const fake = await new FakeGitHub({ appId: APP_ID, publicKey: keys.publicKey, installations: { [REPO]: INSTALLATION }, ...options }).start();
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
