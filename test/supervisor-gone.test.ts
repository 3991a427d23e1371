import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, startTestRedis, uniquePrefix, waitFor, type TestRedis } from '@agentq/shared/testing';

const ROOT = join(import.meta.dirname, '..');
const SERVICES = ['ingress', 'dispatcher', 'log-relay'] as const;
type Service = (typeof SERVICES)[number];

/** A service, once started, exits within this after its supervisor is gone (its shutdown deadline is 20 s). */
const EXIT_BOUND_MS = 30_000;
/** Starting the three services on a busy machine. */
const START_BOUND_MS = 60_000;

/**
 * A stand-in supervisor: starts the services with an IPC channel and piped output, as npm start
 * does, and passes each line they write on as `{"name","line"}`, after `{"pids"}`. With `at-once`
 * it kills itself right after starting them, while they are still loading their modules.
 */
const SUPERVISOR = `
const { spawn } = require('node:child_process');
const { createInterface } = require('node:readline');
const [root, mode] = process.argv.slice(1);
const pids = {};
for (const name of ${JSON.stringify(SERVICES)}) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/' + name + '/src/main.ts'], {
    cwd: root, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], detached: true,
  });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(JSON.stringify({ name, line }) + '\\n'));
  }
  pids[name] = child.pid;
}
process.stdout.write(JSON.stringify({ pids }) + '\\n');
if (mode === 'at-once') process.kill(process.pid, 'SIGKILL');
setInterval(() => {}, 1000);
`;

/** The line each service logs once it serves, with the port of its `/readyz`. */
const STARTED: Record<Service, { msg: string; port: (line: Record<string, unknown>) => unknown }> = {
  ingress: { msg: 'ingress listening', port: (l) => new URL(String(l.address)).port },
  dispatcher: { msg: 'dispatcher started', port: (l) => l.port },
  'log-relay': { msg: 'log relay ops server listening', port: (l) => l.port },
};

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

interface Supervisor {
  process: ChildProcess;
  pids: Record<Service, number>;
  /** Every line the services wrote, by service. */
  lines: Record<Service, string[]>;
}

describe('services started by a supervisor', () => {
  let redis: TestRedis;
  let data: { path: string; remove: () => Promise<void> };
  const started: Supervisor[] = [];

  beforeAll(async () => {
    redis = await startTestRedis();
    data = await makeTempDir();
  });
  afterEach(() => {
    for (const sup of started.splice(0)) {
      sup.process.kill('SIGKILL');
      for (const pid of Object.values(sup.pids).filter(alive)) process.kill(pid, 'SIGKILL');
    }
  });
  afterAll(async () => {
    await redis.stop();
    await data.remove();
  });

  async function startSupervisor(mode: 'at-once' | 'wait'): Promise<Supervisor> {
    const child = spawn(process.execPath, ['-e', SUPERVISOR, ROOT, mode], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        PATH: process.env.PATH,
        REDIS_URL: redis.url,
        AGENTQ_REDIS_PREFIX: uniquePrefix('sup'),
        AGENTQ_DATA_DIR: data.path,
        AGENTQ_API_TOKENS: 'supervisor-gone-token-0123456789',
        AGENTQ_HOST: '127.0.0.1',
        AGENTQ_PORT: '0',
        AGENTQ_INGRESS_OPS_PORT: '0',
        AGENTQ_DISPATCHER_PORT: '0',
        AGENTQ_RELAY_PORT: '0',
      },
    });
    let pids: Record<Service, number> | undefined;
    const lines: Record<Service, string[]> = { ingress: [], dispatcher: [], 'log-relay': [] };
    createInterface({ input: child.stdout! }).on('line', (text) => {
      const message = JSON.parse(text) as { pids?: Record<Service, number>; name?: Service; line?: string };
      if (message.pids) pids = message.pids;
      if (message.name && message.line !== undefined) lines[message.name].push(message.line);
    });
    const sup: Supervisor = { process: child, pids: await waitFor(() => pids, { what: 'the service pids' }), lines };
    started.push(sup);
    return sup;
  }

  /** Resolves once the service logged that it serves and its `/readyz` answers 200. */
  async function ready(sup: Supervisor, name: Service): Promise<void> {
    const { msg, port } = STARTED[name];
    const line = await waitFor(
      () => sup.lines[name].map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === msg),
      { timeoutMs: START_BOUND_MS, intervalMs: 100, what: `${name} to log "${msg}" (it wrote: ${sup.lines[name].join('\n')})` },
    );
    const url = `http://127.0.0.1:${String(port(line))}/readyz`;
    await waitFor(async () => (await fetch(url)).status === 200, { timeoutMs: START_BOUND_MS, intervalMs: 100, what: `${url} to answer 200` });
  }

  async function expectAllExit(sup: Supervisor): Promise<void> {
    const left = () => SERVICES.filter((name) => alive(sup.pids[name]));
    await waitFor(() => left().length === 0, { timeoutMs: EXIT_BOUND_MS, intervalMs: 100, what: 'every service to exit' }).catch(() => {
      expect(left(), 'services still running after their supervisor is gone').toEqual([]);
    });
  }

  it('all exit when the supervisor dies while they are still loading their modules', async () => {
    const sup = await startSupervisor('at-once');
    await expectAllExit(sup);
  }, EXIT_BOUND_MS + 15_000);

  it('all shut down and exit when the supervisor is killed with SIGKILL once they are ready, although their stdout is gone', async () => {
    const sup = await startSupervisor('wait');
    await Promise.all(SERVICES.map((name) => ready(sup, name)));
    sup.process.kill('SIGKILL');
    await expectAllExit(sup);
  }, START_BOUND_MS + EXIT_BOUND_MS + 15_000);
});
