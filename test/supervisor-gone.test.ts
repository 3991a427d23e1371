import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, startTestRedis, uniquePrefix, waitFor, type TestRedis } from '@agentq/shared/testing';

const ROOT = join(import.meta.dirname, '..');

/** A stand-in supervisor: starts the services with an IPC channel and piped output, as npm start does, then waits. */
const PARENT = `
const { spawn } = require('node:child_process');
const pids = [];
for (const name of ['ingress', 'dispatcher', 'log-relay']) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/' + name + '/src/main.ts'], {
    cwd: process.argv[1], stdio: ['ignore', 'pipe', 'pipe', 'ipc'], detached: true,
  });
  child.stdout.on('data', () => {});
  child.stderr.on('data', () => {});
  pids.push(child.pid);
}
process.stdout.write(JSON.stringify(pids) + '\\n');
setInterval(() => {}, 1000);
`;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('services started by a supervisor', () => {
  let redis: TestRedis;
  let data: { path: string; remove: () => Promise<void> };
  beforeAll(async () => {
    redis = await startTestRedis();
    data = await makeTempDir();
  });
  afterAll(async () => {
    await redis.stop();
    await data.remove();
  });

  it('all exit when the supervisor is killed with SIGKILL, although their stdout is gone', async () => {
    const parent = spawn(process.execPath, ['-e', PARENT, ROOT], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        PATH: process.env.PATH,
        REDIS_URL: redis.url,
        AGENTQ_REDIS_PREFIX: uniquePrefix('sup'),
        AGENTQ_DATA_DIR: data.path,
        AGENTQ_API_TOKENS: 'supervisor-gone-token-0123456789',
        AGENTQ_PORT: '0',
        AGENTQ_DISPATCHER_PORT: '0',
        AGENTQ_RELAY_PORT: '0',
      },
    });
    let out = '';
    parent.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const pids = await waitFor(() => (out.includes('\n') ? (JSON.parse(out) as number[]) : undefined), { what: 'service pids' });
    // let them start and log (so that their output is in flight when the pipe breaks)
    await new Promise((r) => setTimeout(r, 4000));
    expect(pids.every(alive)).toBe(true);
    parent.kill('SIGKILL');
    try {
      await waitFor(() => pids.every((pid) => !alive(pid)), { timeoutMs: 15_000, what: 'every service to exit' });
    } finally {
      for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
    }
  }, 40_000);
});
