import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, makeTempDir, waitFor } from '@agentq/shared/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { sandboxRow } from '../src/supervisor/banner.js';
import { CliError } from '../src/api/cli-error.js';
import { startLocalRedis } from '../src/supervisor/local-redis.js';
import { ManagedProcess } from '../src/supervisor/managed-process.js';
import { PidFiles } from '../src/supervisor/pid-files.js';
import { groupAlive, isRunning, signal } from '../src/supervisor/process-info.js';
import { killSandboxes } from '../src/supervisor/sandbox-cleanup.js';
import { redisCommand, spawnGroup } from './support/processes.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await makeTempDir('agentq-sup-');
  cleanups.push(dir.remove);
  return dir.path;
}

/** Kills a group at the end of the test if it is still there. */
function track(pgid: number): number {
  cleanups.push(() => {
    if (groupAlive(pgid)) signal(-pgid, 'SIGKILL');
  });
  return pgid;
}

function collector() {
  const lines: string[] = [];
  const notices: string[] = [];
  return { lines, notices, output: (line: string) => lines.push(line), notice: (text: string) => notices.push(text) };
}

describe('the private redis-server', () => {
  it('runs on loopback with its data and pid file in the data dir, keeps data across restarts, and stops cleanly', async () => {
    const dataDir = await tempDir();
    const pidFiles = new PidFiles(dataDir);
    const log = collector();
    const redis = await startLocalRedis({ dataDir, pidFiles, ...log });
    cleanups.push(() => redis.process.kill());
    expect(redis.password).toMatch(/^[0-9a-f]{48}$/);
    expect(redis.url).toBe(`redis://:${redis.password}@127.0.0.1:${redis.port}`);
    expect(redis.shownUrl).toBe(`redis://127.0.0.1:${redis.port}`);
    // without the password the port gives nothing; the password is on no command line
    expect(await redisCommand(redis.port, 'GET agentq:probe')).toMatch(/^-NOAUTH/);
    expect(await readFile(`/proc/${redis.process.pid ?? 0}/cmdline`, 'utf8')).not.toContain(redis.password);
    expect((await stat(join(dataDir, 'redis', 'redis.conf'))).mode & 0o077).toBe(0);
    const pid = redis.process.pid ?? 0;
    expect(pidFiles.read('redis')).toBe(pid);
    expect(existsSync(join(dataDir, 'redis', 'appendonlydir'))).toBe(true);
    expect(await redisCommand(redis.port, 'SET agentq:probe kept', redis.password)).toBe('+OK');
    // start-up chatter is held back when all goes well
    expect(log.lines.join('\n')).not.toContain('Redis is starting');

    await redis.stop();
    expect(await isRunning(pid)).toBe(false);
    expect(pidFiles.read('redis')).toBeUndefined();

    const again = await startLocalRedis({ dataDir, pidFiles, ...log });
    cleanups.push(() => again.process.kill());
    expect(again.password).not.toBe(redis.password);
    expect(await redisCommand(again.port, 'GET agentq:probe', again.password)).toBe('kept');
    await again.stop();
  });

  it('stops a redis-server left running by a crashed run, and leaves unrelated processes alone', async () => {
    const dataDir = await tempDir();
    const pidFiles = new PidFiles(dataDir);
    const port = await freePort();
    const stale = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      detached: true,
      stdio: 'ignore',
    });
    const stalePid = stale.pid ?? 0;
    cleanups.push(() => void signal(stalePid, 'SIGKILL'));
    await waitFor(async () => (await redisCommand(port, 'PING').catch(() => '')) === '+PONG', { what: 'the stale redis' });
    pidFiles.write('redis', stalePid);

    const log = collector();
    const redis = await startLocalRedis({ dataDir, pidFiles, ...log });
    cleanups.push(() => redis.process.kill());
    expect(log.notices).toContain(`stopped redis-server ${stalePid} left running by an earlier run`);
    await waitFor(async () => !(await isRunning(stalePid)), { what: 'the stale redis to exit' });
    expect(pidFiles.read('redis')).toBe(redis.process.pid);
    await redis.stop();

    // a pid file naming some other program: that program is not touched
    const other = track(spawnGroup('sleep 60'));
    pidFiles.write('redis', other);
    const redis2 = await startLocalRedis({ dataDir, pidFiles, ...log });
    cleanups.push(() => redis2.process.kill());
    expect(await isRunning(other)).toBe(true);
    await redis2.stop();
  });

  it('says how to install redis-server when it is missing', async () => {
    const dataDir = await tempDir();
    const error = await startLocalRedis({ dataDir, pidFiles: new PidFiles(dataDir), binary: 'redis-server-not-installed', ...collector() }).catch(
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).code).toBe('START_REDIS_MISSING');
    expect((error as CliError).exitCode).toBe(1);
    expect((error as CliError).hint).toMatch(/apt-get install redis-server.*brew install redis.*REDIS_URL/);
  });
});

describe('a supervised process', () => {
  // no jitter, so that the waits can be named exactly
  const fast = { initialMs: 100, maxMs: 400, jitter: 0, resetAfterMs: 60_000 };

  it('is restarted with backoff when it crashes, and says so', async () => {
    const dir = await tempDir();
    const counter = join(dir, 'runs');
    await writeFile(counter, '0');
    // crashes on its first three runs, then stays up
    const script = `
      const fs = require('node:fs');
      const runs = Number(fs.readFileSync(${JSON.stringify(counter)}, 'utf8')) + 1;
      fs.writeFileSync(${JSON.stringify(counter)}, String(runs));
      console.log('run ' + runs);
      if (runs <= 3) process.exit(3);
      setInterval(() => {}, 1000);
    `;
    const pidFiles = new PidFiles(dir);
    const log = collector();
    const proc = new ManagedProcess({
      name: 'crashy',
      command: process.execPath,
      args: ['-e', script],
      cwd: dir,
      env: process.env,
      pidFiles,
      restart: fast,
      ...log,
    });
    cleanups.push(() => proc.kill());
    proc.start();
    await waitFor(() => log.lines.includes('run 4'), { what: 'the fourth run' });
    expect(log.notices).toEqual([
      'crashy exited with code 3; restarting in 0.1s',
      'crashy exited with code 3; restarting in 0.2s',
      'crashy exited with code 3; restarting in 0.4s',
    ]);
    expect(proc.restarts).toBe(3);
    const pid = proc.pid ?? 0;
    await waitFor(() => pidFiles.read('crashy') === pid, { what: 'the pid file' });
    await proc.stop(5000);
    expect(await isRunning(pid)).toBe(false);
    expect(pidFiles.read('crashy')).toBeUndefined();
    expect(proc.restarts).toBe(3);
  });

  it('is killed with its whole group when it ignores SIGTERM past the grace period', async () => {
    const dir = await tempDir();
    const log = collector();
    const proc = new ManagedProcess({
      name: 'stubborn',
      command: 'sh',
      args: ['-c', "trap '' TERM; sleep 300 & echo child $!; wait"],
      cwd: dir,
      env: process.env,
      restart: fast,
      ...log,
    });
    cleanups.push(() => proc.kill());
    proc.start();
    const line = await waitFor(() => log.lines.find((l) => l.startsWith('child ')), { what: 'the grandchild' });
    const grandchild = Number(line.split(' ')[1]);
    const pid = proc.pid ?? 0;
    const started = Date.now();
    await proc.stop(300);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(log.notices).toContain('stubborn did not stop within 0.3s; killing it');
    expect(await isRunning(pid)).toBe(false);
    await waitFor(async () => !(await isRunning(grandchild)), { what: 'the grandchild to die' });
    expect(proc.restarts).toBe(0);
  });

  it('runs in its own process group', async () => {
    const dir = await tempDir();
    const log = collector();
    const proc = new ManagedProcess({
      name: 'grouped',
      command: 'sh',
      args: ['-c', 'echo pgid $(ps -o pgid= -p $$ | tr -d " "); sleep 300'],
      cwd: dir,
      env: process.env,
      ...log,
    });
    cleanups.push(() => proc.kill());
    proc.start();
    const line = await waitFor(() => log.lines.find((l) => l.startsWith('pgid ')), { what: 'the pgid line' });
    expect(Number(line.split(' ')[1])).toBe(proc.pid);
    await proc.stop(2000);
  });
});

describe('cleanup of local sandboxes', () => {
  it('stops every live sandbox process group, with SIGKILL for those that ignore SIGTERM', async () => {
    const dataDir = await tempDir();
    const polite = track(spawnGroup('sleep 300 & sleep 300 & wait'));
    const stubborn = track(spawnGroup("trap '' TERM; sleep 300 & wait"));
    const gone = spawnGroup('exit 0');
    await waitFor(() => !groupAlive(gone), { what: 'the short-lived group' });
    const write = async (name: string, content: string) => {
      await mkdir(join(dataDir, 'sandboxes', name), { recursive: true });
      await writeFile(join(dataDir, 'sandboxes', name, 'pid'), content);
    };
    await write('s-polite', `${polite}\n`);
    await write('s-stubborn', `${stubborn}\n`);
    await write('s-gone', `${gone}\n`);
    await write('s-garbage', 'not a pid\n');
    await write('s-one', '1\n');
    await mkdir(join(dataDir, 'sandboxes', 's-no-pid'));

    const stopped = await killSandboxes(dataDir, 300);
    expect(stopped.sort()).toEqual(['s-polite', 's-stubborn']);
    expect(groupAlive(polite)).toBe(false);
    expect(groupAlive(stubborn)).toBe(false);
    expect(await readFile(join(dataDir, 'sandboxes', 's-polite', 'pid'), 'utf8')).toBe(`${polite}\n`);
  });

  it('does nothing without a sandboxes directory', async () => {
    expect(await killSandboxes(await tempDir())).toEqual([]);
  });
});

describe('the banner of npm start', () => {
  it('says loudly, with the reason and the fix, when agents run unisolated', () => {
    const row = sandboxRow({ provider: 'local', isolation: { mode: 'none', note: 'bwrap is not installed' } });
    expect(row.text).toBe('local, agents NOT isolated');
    expect(row.warning).toContain('AGENTS RUN UNISOLATED');
    expect(row.warning).toContain('bwrap is not installed');
    expect(row.warning).toContain('apt-get install bubblewrap');
    expect(sandboxRow({ provider: 'local', isolation: { mode: 'bwrap' } })).toEqual({ text: 'local, agents isolated with bubblewrap' });
    expect(sandboxRow({ provider: 'modal' })).toEqual({ text: 'modal' });
  });
});
