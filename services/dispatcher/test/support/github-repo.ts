import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FakeGitHub, GitHttpServer, generateAppKeyPair, makeTempDir } from '@agentq/shared/testing';
import { git } from './git.js';

export interface ServedGitHubRepo {
  fake: FakeGitHub;
  gitServer: GitHttpServer;
  root: Awaited<ReturnType<typeof makeTempDir>>;
  /** The bare repository the git server serves. */
  bare: string;
  privateKey: string;
  /** The settings that point a service at the fake App and the git server. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export interface ServeOptions {
  /** `owner/name`. */
  repo: string;
  appId: number;
  installation: number;
  tempPrefix: string;
  /** Makes the repository's history in `work` (a fresh `git init -b main`); by default one commit of a README. */
  prepare?: (work: string) => Promise<void>;
}

/**
 * A repository on a fake GitHub: the App's API (`FakeGitHub`, which also reads the repository's
 * files) and git over HTTP for the same repository, accepting only the App's tokens for it.
 */
export async function serveGitHubRepo(options: ServeOptions): Promise<ServedGitHubRepo> {
  const { repo } = options;
  const keyPair = generateAppKeyPair();
  const root = await makeTempDir(options.tempPrefix);
  const work = join(root.path, 'work');
  await mkdir(work);
  git(['init', '--quiet', '-b', 'main'], work);
  if (options.prepare) {
    await options.prepare(work);
  } else {
    await writeFile(join(work, 'README.md'), `# ${repo.split('/')[1] ?? repo}\n`);
    git(['add', '-A'], work);
    git(['commit', '--quiet', '-m', 'initial'], work);
  }
  const served = join(root.path, 'served');
  await mkdir(join(served, repo.split('/')[0] ?? ''), { recursive: true });
  const bare = join(served, `${repo}.git`);
  git(['clone', '--quiet', '--bare', work, bare], root.path);
  // GitHub's API answers about the same repositories its git side serves
  const fake = await new FakeGitHub({ appId: options.appId, publicKey: keyPair.publicKey, installations: { [repo]: options.installation }, repositories: served }).start();
  const gitServer = await new GitHttpServer({ root: served, authorize: (_user, password, name) => fake.isValidToken(password, name) }).start();
  return {
    fake,
    gitServer,
    root,
    bare,
    privateKey: keyPair.privateKey,
    env: { GITHUB_APP_ID: String(options.appId), GITHUB_APP_PRIVATE_KEY: keyPair.privateKey, GITHUB_API_URL: fake.url, GITHUB_GIT_URL: gitServer.url },
    stop: async () => {
      await gitServer.stop();
      await fake.stop();
      await root.remove();
    },
  };
}
