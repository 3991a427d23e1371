import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../net/free-port.js';
import { waitFor } from './wait.js';

export interface TestRedis {
  url: string;
  /** How it was obtained: the REDIS_URL given, a container, or a private redis-server. */
  kind: 'env' | 'container' | 'process';
  /** Stops it (a no-op for REDIS_URL). */
  stop(): Promise<void>;
}

export interface TestRedisOptions {
  /** Always start a private instance (for fault tests that stop Redis); REDIS_URL is ignored. */
  private?: boolean;
  /** Append-only file on (durability tests). */
  appendOnly?: boolean;
  /** Fixed port (to restart an instance on the same address). */
  port?: number;
  /** Data directory (to restart an instance on the same data). */
  dir?: string;
  /** Password the instance requires (in the URL it returns); a private redis-server is started. */
  password?: string;
}

async function startContainer(): Promise<TestRedis | undefined> {
  try {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7-alpine').start();
    return { url: container.getConnectionUrl(), kind: 'container', stop: async () => void (await container.stop()) };
  } catch {
    // "Could not find a working container runtime strategy" when no Docker engine answers
    return undefined;
  }
}

/** Starts `redis-server` from PATH on a free loopback port with a temp data dir. */
export async function startRedisProcess(options: TestRedisOptions = {}): Promise<TestRedis> {
  const port = options.port ?? (await freePort());
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'agentq-redis-')));
  const child: ChildProcess = spawn(
    'redis-server',
    [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dir,
      '--save', '',
      '--appendonly', options.appendOnly ? 'yes' : 'no',
      '--daemonize', 'no',
      '--loglevel', 'warning',
      ...(options.password ? ['--requirepass', options.password] : []),
    ],
    { stdio: 'ignore' },
  );
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (err) =>
      reject(new Error(`cannot start redis-server (${err.message}); install it (apt-get install redis-server) or set REDIS_URL`)),
    );
  });
  const url = options.password ? `redis://:${encodeURIComponent(options.password)}@127.0.0.1:${port}` : `redis://127.0.0.1:${port}`;
  const ping = async () => {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  };
  await Promise.race([waitFor(ping, { timeoutMs: 10_000, what: 'redis-server to answer' }), spawnError]);
  let stopped: Promise<void> | undefined;
  return {
    url,
    kind: 'process',
    stop: () => {
      stopped ??= (async () => {
        if (child.exitCode === null) {
          const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          child.kill('SIGKILL');
          await exited;
        }
        if (ownDir) await rm(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/**
 * A real Redis for tests: `REDIS_URL` when set, else a container when a Docker engine answers,
 * else a private `redis-server` from PATH. Use a fresh key prefix per test.
 */
export async function startTestRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  const fixed = options.port !== undefined || options.dir !== undefined || options.appendOnly || options.password !== undefined;
  if (!options.private && options.password === undefined && process.env.REDIS_URL) {
    return { url: process.env.REDIS_URL, kind: 'env', stop: async () => {} };
  }
  if (!fixed) {
    const container = await startContainer();
    if (container) return container;
  }
  return startRedisProcess(options);
}
