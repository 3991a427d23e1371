import { createHmac, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { LocalForge } from '@agentq/shared';
import { FakeGitHub, GitHttpServer, generateAppKeyPair, makeTempDir } from '@agentq/shared/testing';
import { startStack, type Stack } from './stack.js';

export interface GitHubStack {
  fake: FakeGitHub;
  gitServer: GitHttpServer;
  stack: Stack;
  /** The bare repository GitHub serves for `repo` (the git side of "github.com"). */
  bare: string;
  /** Sends a signed delivery the way GitHub does. */
  deliver(event: string, payload: object, deliveryId?: string): Promise<Response>;
  stop(): Promise<void>;
}

/**
 * The three services as processes with a GitHub App, talking to a fake GitHub API whose App is
 * installed on `repo` (seeded with a README, served over git HTTP, which takes only the fake's
 * tokens for it), and a person with write access.
 */
export async function startGitHubStack(options: { appId: number; repo: string; installation: number; webhookSecret: string; writer: string; env?: NodeJS.ProcessEnv }): Promise<GitHubStack> {
  const keys = generateAppKeyPair();
  const remote = await makeTempDir('agentq-github-remote-');
  await new LocalForge(remote.path).seed(options.repo, { 'README.md': '# widgets\n' });
  const repositories = join(remote.path, 'repos');
  const fake = await new FakeGitHub({ appId: options.appId, publicKey: keys.publicKey, installations: { [options.repo]: options.installation }, repositories }).start();
  fake.setPermission(options.repo, options.writer, 'write');
  const gitServer = await new GitHttpServer({ root: repositories, authorize: (_user, password, repo) => fake.isValidToken(password, repo) }).start();
  const stack = await startStack({
    GITHUB_APP_ID: String(options.appId),
    GITHUB_APP_PRIVATE_KEY: keys.privateKey,
    GITHUB_WEBHOOK_SECRET: options.webhookSecret,
    GITHUB_API_URL: fake.url,
    GITHUB_GIT_URL: gitServer.url,
    ...options.env,
  });
  return {
    fake,
    gitServer,
    stack,
    bare: join(repositories, `${options.repo}.git`),
    deliver: (event, payload, deliveryId = randomUUID()) => {
      const body = JSON.stringify(payload);
      return fetch(`${stack.url}/github/webhooks`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': event,
          'x-github-delivery': deliveryId,
          'x-hub-signature-256': `sha256=${createHmac('sha256', options.webhookSecret).update(body).digest('hex')}`,
        },
        body,
      });
    },
    stop: async () => {
      await stack.stop();
      await gitServer.stop();
      await fake.stop();
      await remote.remove();
    },
  };
}
