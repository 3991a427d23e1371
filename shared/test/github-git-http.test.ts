import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, isAgentqError } from '../src/index.js';
import { GitHttpServer, makeTempDir } from '../src/testing/index.js';

const TOKEN = 'ghs_testtoken0123456789abcdef';
let tmp: { path: string; remove: () => Promise<void> };
let server: GitHttpServer;
const authorized: { username: string; repo: string }[] = [];

function helperEnv(tokenFile: string): NodeJS.ProcessEnv {
  return {
    TOKEN_FILE: tokenFile,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'credential.helper',
    GIT_CONFIG_VALUE_0: '!f() { echo username=x-access-token; echo "password=$(cat "$TOKEN_FILE")"; }; f',
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.test',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.test',
  };
}

beforeAll(async () => {
  tmp = await makeTempDir('agentq-githttp-');
  const root = join(tmp.path, 'root');
  const seed = join(tmp.path, 'seed');
  await mkdir(join(root, 'acme'), { recursive: true });
  await git(['init', '--bare', '-b', 'main', join(root, 'acme', 'web.git')]);
  await git(['init', '-b', 'main', seed]);
  await writeFile(join(seed, 'README.md'), '# web\n');
  const env = helperEnv('/dev/null');
  await git(['add', '.'], { cwd: seed, env });
  await git(['commit', '-m', 'initial'], { cwd: seed, env });
  await git(['push', join(root, 'acme', 'web.git'), 'main'], { cwd: seed, env });
  server = await new GitHttpServer({
    root,
    authorize: (username, password, repo) => {
      authorized.push({ username, repo });
      return username === 'x-access-token' && password === TOKEN && repo === 'acme/web';
    },
  }).start();
});

afterAll(async () => {
  await server.stop();
  await tmp.remove();
});

describe('GitHttpServer', () => {
  it('clones and pushes with a token from a credential helper, never stored in .git/config', async () => {
    const tokenFile = join(tmp.path, 'git-token');
    await writeFile(tokenFile, TOKEN, { mode: 0o600 });
    const env = helperEnv(tokenFile);
    const work = join(tmp.path, 'work');
    await git(['clone', `${server.url}/acme/web.git`, work], { env });
    expect(await readFile(join(work, 'README.md'), 'utf8')).toBe('# web\n');

    await git(['checkout', '-b', 'agentq/feature'], { cwd: work, env });
    await writeFile(join(work, 'CONTRIBUTING.md'), 'be nice\n');
    await git(['add', '.'], { cwd: work, env });
    await git(['commit', '-m', 'add contributing'], { cwd: work, env });
    await git(['push', 'origin', 'agentq/feature'], { cwd: work, env });

    const remote = await git(['--git-dir', join(tmp.path, 'root', 'acme', 'web.git'), 'log', '--format=%s', 'agentq/feature']);
    expect(remote.stdout.trim().split('\n')).toEqual(['add contributing', 'initial']);
    expect(server.seenPasswords).toContain(TOKEN);
    expect(authorized.every((a) => a.repo === 'acme/web')).toBe(true);
    const gitConfig = await readFile(join(work, '.git', 'config'), 'utf8');
    expect(gitConfig).not.toContain(TOKEN);
    expect(gitConfig).toContain(`${server.url}/acme/web.git`);
  });

  it('refuses a wrong password', async () => {
    const tokenFile = join(tmp.path, 'wrong-token');
    await writeFile(tokenFile, 'ghs_wrong');
    const err = await git(['ls-remote', `${server.url}/acme/web.git`], { env: helperEnv(tokenFile) }).catch((e: unknown) => e);
    expect(isAgentqError(err) && err.code).toBe('GIT_FAILED');
    expect(String((err as Error).message)).toMatch(/Authentication failed|401/);
    expect(server.seenPasswords).toContain('ghs_wrong');
  });

  it('refuses a request without credentials with a Basic challenge', async () => {
    const res = await fetch(`${server.url}/acme/web.git/info/refs?service=git-upload-pack`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="agentq-test"');
  });
});
