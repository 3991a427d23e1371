import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { freePort } from '@agentq/shared';
import { join } from 'node:path';
import { CliError } from '../api/cli-error.js';
import { ManagedProcess, type ManagedProcessOptions } from './managed-process.js';
import type { PidFiles } from './pid-files.js';
import { pollUntil } from './process-info.js';

export const REDIS_MISSING_HINT =
  'install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or set REDIS_URL to a Redis server you run';

export interface LocalRedisOptions {
  dataDir: string;
  pidFiles: PidFiles;
  output: ManagedProcessOptions['output'];
  notice: ManagedProcessOptions['notice'];
  /** Fixed port; a free one by default. */
  port?: number;
  binary?: string;
}

export interface LocalRedis {
  /** With the password: what the services are given. */
  url: string;
  /** Without the password: what may be shown. */
  shownUrl: string;
  /** Asked of every client (`AUTH`), new at each start; never on a command line. */
  password: string;
  port: number;
  dir: string;
  process: ManagedProcess;
  /** A clean shutdown (SIGTERM: Redis flushes its append-only file), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** The version of `redis-server` on PATH; a clear error when there is none. */
export function redisVersion(binary = 'redis-server'): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(binary, ['--version'], { timeout: 10_000 }, (err, stdout) => {
      if (err) {
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        reject(
          new CliError('START_REDIS_MISSING', missing ? `${binary} was not found on PATH` : `${binary} --version failed: ${err.message}`, {
            hint: REDIS_MISSING_HINT,
            exitCode: 1,
          }),
        );
        return;
      }
      resolve(/v=(\S+)/.exec(stdout)?.[1] ?? stdout.trim());
    });
  });
}

/**
 * Runs a private `redis-server` for `npm start`: loopback only, a password generated at each start
 * (in `<dataDir>/redis/redis.conf`, readable by this user only, so it is on no command line), data
 * (append-only file) in `<dataDir>/redis`, a pid file so a server left by a crashed run is stopped
 * first, and restarted on the same port if it dies. Reaching its port gives nothing without the
 * password.
 */
export async function startLocalRedis(options: LocalRedisOptions): Promise<LocalRedis> {
  const binary = options.binary ?? 'redis-server';
  await redisVersion(binary);
  const stale = await options.pidFiles.killStale('redis', 'redis-server');
  if (stale !== undefined) options.notice(`stopped redis-server ${stale} left running by an earlier run`);
  const dir = join(options.dataDir, 'redis');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const password = randomBytes(24).toString('hex');
  const conf = join(dir, 'redis.conf');
  await writeFile(`${conf}.tmp`, `requirepass ${password}\n`, { mode: 0o600 });
  await rename(`${conf}.tmp`, conf);

  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    // Redis's start-up and shutdown chatter is shown only if it does not come up.
    const early: string[] = [];
    let started = false;
    let stopping = false;
    const proc = new ManagedProcess({
      name: 'redis',
      command: binary,
      args: [conf, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--daemonize', 'no', '--loglevel', 'warning'],
      cwd: dir,
      env: process.env,
      output: (line, stream) => {
        if (!started) early.push(line);
        else if (!stopping) options.output(line, stream);
      },
      notice: options.notice,
      pidFiles: options.pidFiles,
    });
    proc.restartOnExit = false;
    let exited = false;
    const off = proc.onExit(() => {
      exited = true;
    });
    proc.start();
    const up = await pollUntil(async () => exited || (await ping(port, password)), 15_000);
    off();
    if (up && !exited) {
      started = true;
      proc.restartOnExit = true;
      return {
        url: `redis://:${password}@127.0.0.1:${port}`,
        shownUrl: `redis://127.0.0.1:${port}`,
        password,
        port,
        dir,
        process: proc,
        stop: (graceMs = 15_000) => {
          stopping = true;
          return proc.stop(graceMs);
        },
      };
    }
    await proc.stop(1000);
    for (const line of early) options.output(line, 'stdout');
    // The port may have been taken in the meantime; try another one.
    if (attempt >= 3 || options.port !== undefined) {
      throw new CliError('START_REDIS_FAILED', `redis-server did not start (port ${port}, data in ${dir})`, {
        hint: 'see its output above, or set REDIS_URL to a Redis server you run',
        exitCode: 1,
      });
    }
  }
}

/** True when a Redis answers PING on 127.0.0.1:port (after `AUTH`, given a password). */
export function ping(port: number, password?: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    const replies = password === undefined ? 1 : 2;
    socket.once('connect', () => socket.write(`${password === undefined ? '' : `AUTH ${password}\r\n`}PING\r\n`));
    socket.on('data', (chunk) => {
      data += chunk.toString('utf8');
      const lines = data.split('\r\n');
      if (lines.length > replies) done(lines[replies - 1] === '+PONG');
    });
  });
}
