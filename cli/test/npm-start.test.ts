import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { LocalForge } from '@agentq/shared';
import { freePort, makeTempDir, waitFor } from '@agentq/shared/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { PidFiles } from '../src/supervisor/pid-files.js';
import { groupAlive, isRunning, signal } from '../src/supervisor/process-info.js';
import { spawnGroup } from './support/processes.js';
import { REPO_ROOT, runProcess } from './support/run-cli.js';

const START = join(REPO_ROOT, 'cli/src/start.ts');
const SERVICES = ['ingress', 'dispatcher', 'relay'];

interface Started {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

function startSupervisor(env: NodeJS.ProcessEnv): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', START], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (output += s));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  running.add(child);
  void exit.then(() => running.delete(child));
  return { child, output: () => output, exit };
}

/** The environment of a fresh shell, without anything that would point agentq elsewhere. */
function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name === 'REDIS_URL' || name.startsWith('AGENTQ_') || name.startsWith('ANTHROPIC_') || name === 'CLAUDE_CODE_OAUTH_TOKEN') continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

const running = new Set<ChildProcess>();
const leftovers: (() => void)[] = [];
afterAll(async () => {
  // A supervisor still running after a failed test is stopped the way a user would.
  await Promise.all(
    [...running].map(async (child) => {
      child.kill('SIGTERM');
      const exited = await waitFor(() => child.exitCode !== null || child.signalCode !== null, { timeoutMs: 30_000 }).catch(() => false);
      if (!exited) child.kill('SIGKILL');
    }),
  );
  for (const cleanup of leftovers) cleanup();
}, 60_000);

describe('npm start', () => {
  it('runs Redis and the services, runs the quick start, restarts a crashed service, and stops leaving nothing behind', async () => {
    const dataDir = await makeTempDir('agentq-start-');
    leftovers.push(() => void dataDir.remove());
    const [port, dispatcherPort, relayPort] = [await freePort(), await freePort(), await freePort()];
    const env = cleanEnv({
      AGENTQ_DATA_DIR: dataDir.path,
      AGENTQ_PORT: String(port),
      AGENTQ_INGRESS_OPS_PORT: String(await freePort()),
      AGENTQ_DISPATCHER_PORT: String(dispatcherPort),
      AGENTQ_RELAY_PORT: String(relayPort),
      AGENTQ_DEMO_DELAY_MS: '20',
      AGENTQ_SHUTDOWN_TIMEOUT_MS: '5000',
    });
    const sup = startSupervisor(env);
    const pidFiles = new PidFiles(dataDir.path);
    leftovers.push(() => {
      for (const name of ['supervisor', 'redis', ...SERVICES]) {
        const pid = pidFiles.read(name);
        if (pid !== undefined) signal(pid, 'SIGKILL');
      }
    });

    const apiUrl = await waitFor(() => /API URL\s+(\S+)/.exec(sup.output())?.[1], { timeoutMs: 60_000, what: `the banner:\n${sup.output()}` });
    expect(apiUrl).toBe(`http://localhost:${port}`);
    const banner = sup.output();
    expect(banner).toMatch(/API token\s+aq_\S+/);
    expect(banner).toContain('demo: no Anthropic credentials configured');
    expect(banner).toContain(`data dir   ${dataDir.path}`);
    // bubblewrap is installed wherever this runs (CI installs it): agents are isolated by default
    expect(banner).toMatch(/sandboxes\s+local, agents isolated with bubblewrap/);
    expect(banner).not.toContain('UNISOLATED');
    expect(banner).toContain(`/tasks/<id>?key=`);
    expect(banner).toContain(`AGENTQ_PORT=${port} AGENTQ_DATA_DIR=${dataDir.path} npx agentq submit demo/hello "add a CONTRIBUTING.md" --follow`);
    expect(banner).toMatch(/^ingress {3}│ /m);

    const pids = Object.fromEntries(['supervisor', 'redis', ...SERVICES].map((name) => [name, pidFiles.read(name)]));
    expect(pids.supervisor).toBe(sup.child.pid);
    for (const pid of Object.values(pids)) expect(pid && (await isRunning(pid))).toBe(true);

    // a second supervisor on the same data dir refuses to start
    const second = startSupervisor(env);
    expect(await second.exit).toBe(1);
    expect(second.output()).toContain(`agentq is already running with data dir ${dataDir.path}`);

    // a crashed service comes back
    signal(pids.relay ?? 0, 'SIGKILL');
    await waitFor(() => sup.output().includes('relay was killed by SIGKILL; restarting in'), { what: 'the restart notice' });
    const newRelay = await waitFor(() => {
      const pid = pidFiles.read('relay');
      return pid !== undefined && pid !== pids.relay ? pid : undefined;
    }, { what: 'the new relay' });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${relayPort}/readyz`).catch(() => undefined))?.ok, { timeoutMs: 30_000, what: 'relay ready' });

    // the quick start, with the variables the banner names
    const run = await runProcess(['submit', 'demo/hello', 'add a CONTRIBUTING.md', '--follow'], {
      env: { AGENTQ_PORT: String(port), AGENTQ_DATA_DIR: dataDir.path },
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const branch = /branch\s+(\S+)/.exec(run.stdout)?.[1] ?? '';
    const commit = /commit\s+([0-9a-f]{40})/.exec(run.stdout)?.[1];
    expect(branch).toMatch(/^agentq\/[0-9a-z]{8}-add-a-contributing-md$/);
    expect(await new LocalForge(dataDir.path).branchCommit('demo/hello', branch)).toBe(commit);

    // a sandbox still running at stop time is stopped with its whole group
    const sandbox = spawnGroup('sleep 300 & sleep 300 & wait');
    leftovers.push(() => void (groupAlive(sandbox) && signal(-sandbox, 'SIGKILL')));
    await mkdir(join(dataDir.path, 'sandboxes', 'leftover'), { recursive: true });
    await writeFile(join(dataDir.path, 'sandboxes', 'leftover', 'pid'), `${sandbox}\n`);

    sup.child.kill('SIGINT');
    expect(await sup.exit).toBe(0);
    const out = sup.output();
    expect(out).toContain('SIGINT: stopping agentq');
    expect(out).toContain('stopped 1 sandbox still running');
    expect(out.trimEnd().endsWith('stopped')).toBe(true);
    // the private Redis's password was never shown (not in the banner, not in any service's lines)
    const password = /^requirepass (\S+)$/m.exec(await readFile(join(dataDir.path, 'redis', 'redis.conf'), 'utf8'))?.[1];
    expect(password).toMatch(/^[0-9a-f]{48}$/);
    expect(out).not.toContain(password);
    for (const [name, pid] of Object.entries({ ...pids, relay: newRelay })) {
      expect(await isRunning(pid ?? 0), `${name} (${pid}) still running`).toBe(false);
    }
    expect(groupAlive(sandbox)).toBe(false);
    expect(existsSync(pidFiles.dir) ? readdirSync(pidFiles.dir) : []).toEqual([]);
  }, 120_000);

  it('exits 1 with a clear message when it cannot start', async () => {
    const dataDir = await makeTempDir('agentq-start-');
    leftovers.push(() => void dataDir.remove());
    const ports = {
      AGENTQ_INGRESS_OPS_PORT: String(await freePort()),
      AGENTQ_DISPATCHER_PORT: String(await freePort()),
      AGENTQ_RELAY_PORT: String(await freePort()),
    };

    const badConfig = startSupervisor(cleanEnv({ AGENTQ_DATA_DIR: dataDir.path, AGENTQ_PORT: 'eighty', ...ports }));
    expect(await badConfig.exit).toBe(1);
    expect(badConfig.output()).toContain('AGENTQ_PORT');

    // a PATH without redis-server (node itself is started by its full path)
    const emptyBin = join(dataDir.path, 'empty-bin');
    await mkdir(emptyBin);
    const noRedis = startSupervisor(cleanEnv({ AGENTQ_DATA_DIR: dataDir.path, AGENTQ_PORT: String(await freePort()), ...ports, PATH: emptyBin }));
    expect(await noRedis.exit).toBe(1);
    expect(noRedis.output()).toContain('redis-server was not found on PATH');
    expect(noRedis.output()).toMatch(/apt-get install redis-server.*brew install redis.*REDIS_URL/);

    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const busyPort = (busy.address() as { port: number }).port;
    try {
      const inUse = startSupervisor(cleanEnv({ AGENTQ_DATA_DIR: dataDir.path, AGENTQ_PORT: String(busyPort), ...ports }));
      expect(await inUse.exit).toBe(1);
      expect(inUse.output()).toContain(`port ${busyPort} (AGENTQ_PORT) on 127.0.0.1 is in use`);
    } finally {
      busy.close();
    }
    // nothing was left running or recorded
    expect(existsSync(join(dataDir.path, 'run')) ? readdirSync(join(dataDir.path, 'run')) : []).toEqual([]);
  });
});
