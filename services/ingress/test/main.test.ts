import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, makeTempDir, startTestRedis, uniquePrefix, waitFor, type TestRedis } from '@agentq/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis.stop();
});

describe('npm run ingress (main.ts)', () => {
  it('serves with a generated token it never prints, and shuts down on SIGTERM', async () => {
    const data = await makeTempDir('agentq-ingress-main-');
    const port = await freePort();
    const opsPort = await freePort();
    let output = '';
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'services/ingress/src/main.ts'], {
      cwd: join(import.meta.dirname, '../../..'),
      env: {
        PATH: process.env.PATH,
        REDIS_URL: redis.url,
        AGENTQ_REDIS_PREFIX: uniquePrefix('main'),
        AGENTQ_DATA_DIR: data.path,
        AGENTQ_HOST: '127.0.0.1',
        AGENTQ_PORT: String(port),
        AGENTQ_INGRESS_OPS_PORT: String(opsPort),
        AGENTQ_SHUTDOWN_TIMEOUT_MS: '5000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitFor(async () => (await fetch(`${base}/readyz`)).ok, { what: 'the ingress to be ready', timeoutMs: 30_000 });
      const token = (await readFile(join(data.path, 'api-token'), 'utf8')).trim();
      expect(token.length).toBeGreaterThan(16);

      const list = await fetch(`${base}/v1/tasks`, { headers: { authorization: `Bearer ${token}` } });
      expect(list.status).toBe(200);
      expect(await list.json()).toEqual({ tasks: [] });
      const refused = await fetch(`${base}/v1/tasks`, { headers: { authorization: 'Bearer wrong-token-0123456789' } });
      expect(refused.status).toBe(401);

      // the metrics name teams: on the private ops port only
      expect((await fetch(`${base}/metrics`)).status).toBe(404);
      const ops = `http://127.0.0.1:${opsPort}`;
      const metrics = await fetch(`${ops}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/^agentq_http_requests_total\{method="GET",route="\/v1\/tasks",status="401",service="ingress"\} 1$/m);
      expect((await fetch(`${ops}/readyz`)).status).toBe(200);
      expect((await fetch(`${ops}/healthz`)).status).toBe(200);

      await waitFor(() => output.includes('using a generated api token'), { what: 'the token notice' });
      expect(output).toContain(join(data.path, 'api-token'));
      expect(output).not.toContain(token);

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(output).toContain('shut down');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await data.remove();
    }
  });
});
