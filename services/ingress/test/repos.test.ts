import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { git } from '@agentq/shared';
import { makeTempDir, startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ALPHA_TOKEN, auth, startIngress, type IngressFixture } from './ingress-fixture.js';

let redis: TestRedis;
let fx: IngressFixture;
let source: { path: string; remove: () => Promise<void> };

beforeAll(async () => {
  redis = await startTestRedis();
  source = await makeTempDir('agentq-source-');
  await git(['init', '--quiet', '--initial-branch=main', source.path]);
  await mkdir(join(source.path, 'src'));
  await writeFile(join(source.path, 'src', 'index.js'), 'export {};\n');
  await git(['add', '-A'], { cwd: source.path });
  await git(['-c', 'user.name=t', '-c', 'user.email=t@localhost', 'commit', '--quiet', '-m', 'init'], { cwd: source.path });
});
afterAll(async () => {
  await source.remove();
  await redis.stop();
});
beforeEach(async () => {
  fx = await startIngress(redis.url);
});
afterEach(async () => {
  await fx.close();
});

const addRepo = (payload: unknown, token?: string) =>
  fx.app.inject({ method: 'POST', url: '/v1/repos', headers: auth(token), payload: payload as object });

describe('/v1/repos', () => {
  it('imports a local repository, lists it, and takes tasks for it', async () => {
    const res = await addRepo({ repo: 'acme/widgets', source: source.path });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({ repo: 'acme/widgets' });
    expect(fx.forge.has('acme/widgets')).toBe(true);
    expect(await fx.forge.branchCommit('acme/widgets', 'main')).toMatch(/^[0-9a-f]{40}$/);

    const list = await fx.app.inject({ method: 'GET', url: '/v1/repos', headers: auth() });
    expect(list.json()).toEqual({ repos: ['acme/widgets', 'demo/hello'] });
    const task = await fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { repo: 'acme/widgets', prompt: 'go' } });
    expect(task.statusCode).toBe(202);
  });

  it('answers 409 for a repository that exists', async () => {
    expect((await addRepo({ repo: 'acme/widgets', source: source.path })).statusCode).toBe(201);
    const again = await addRepo({ repo: 'acme/widgets', source: source.path });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('INGRESS_REPO_EXISTS');
  });

  it('refuses bad names and sources with 400, failed imports with 422', async () => {
    for (const payload of [
      { repo: 'no-slash', source: source.path },
      { repo: 'a/../b', source: source.path },
      { repo: 'acme/x.git', source: source.path },
      { repo: 'acme/x', source: '--upload-pack=touch /tmp/x' },
      { repo: 'acme/x', source: 'ext::sh -c touch% /tmp/x' },
      { repo: 'acme/x' },
      { repo: 'acme/x', source: source.path, extra: 1 },
    ]) {
      const res = await addRepo(payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error.code).toBe('INGRESS_INVALID_REQUEST');
    }
    const missing = await addRepo({ repo: 'acme/x', source: join(source.path, 'does-not-exist') });
    expect(missing.statusCode).toBe(422);
    expect(missing.json().error.code).toBe('INGRESS_REPO_IMPORT_FAILED');
    expect(fx.forge.has('acme/x')).toBe(false);
  });

  it('lets only default-team tokens import', async () => {
    const res = await addRepo({ repo: 'acme/widgets', source: source.path }, ALPHA_TOKEN);
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('INGRESS_FORBIDDEN');
    expect((await fx.app.inject({ method: 'GET', url: '/v1/repos', headers: auth(ALPHA_TOKEN) })).statusCode).toBe(200);
    expect((await fx.app.inject({ method: 'GET', url: '/v1/repos' })).statusCode).toBe(401);
  });
});
