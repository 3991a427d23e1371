import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { DEMO_REPO, DEMO_REPO_FILES, LocalForge } from '@agentq/shared';
import { freePort, makeTempDir, startTestRedis, uniquePrefix, waitFor, type TestRedis, type TestRedisOptions } from '@agentq/shared/testing';

const ROOT = join(import.meta.dirname, '..', '..');

export type ServiceName = 'ingress' | 'dispatcher' | 'log-relay';

export interface RunningService {
  name: ServiceName;
  child: ChildProcess;
  output: string[];
}

export interface Stack {
  url: string;
  token: string;
  dataDir: string;
  env: NodeJS.ProcessEnv;
  services: Map<ServiceName, RunningService>;
  /** Everything the services printed so far. */
  logs(): string;
  start(name: ServiceName): Promise<RunningService>;
  kill(name: ServiceName, signal?: NodeJS.Signals): Promise<void>;
  api(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

/** The three services as real processes on a private Redis and a temp data dir. */
export async function startStack(
  extraEnv: NodeJS.ProcessEnv = {},
  only: ServiceName[] = ['ingress', 'dispatcher', 'log-relay'],
  options: { redis?: TestRedisOptions } = {},
): Promise<Stack> {
  const redis: TestRedis = await startTestRedis(options.redis);
  const data = await makeTempDir('agentq-e2e-');
  const token = `e2e-token-${uniquePrefix('tok')}`;
  await new LocalForge(data.path).seed(DEMO_REPO, DEMO_REPO_FILES);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    REDIS_URL: redis.url,
    AGENTQ_REDIS_PREFIX: uniquePrefix('e2e'),
    AGENTQ_DATA_DIR: data.path,
    AGENTQ_INGRESS_OPS_PORT: '0',
    AGENTQ_DISPATCHER_PORT: '0',
    AGENTQ_RELAY_PORT: '0',
    AGENTQ_API_TOKENS: token,
    AGENTQ_DEMO_DELAY_MS: '20',
    AGENTQ_LOG_LEVEL: 'debug',
    ...extraEnv,
  };
  const services = new Map<ServiceName, RunningService>();
  let url = '';

  const start = async (name: ServiceName): Promise<RunningService> => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'services', name, 'src', 'main.ts')], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const service: RunningService = { name, child, output: [] };
    child.stdout?.on('data', (chunk: Buffer) => service.output.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => service.output.push(chunk.toString()));
    services.set(name, service);
    return service;
  };

  const kill = async (name: ServiceName, signal: NodeJS.Signals = 'SIGTERM') => {
    const service = services.get(name);
    if (!service || service.child.exitCode !== null || service.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => service.child.once('exit', () => resolve()));
    service.child.kill(signal);
    await exited;
  };

  const logs = () => [...services.values()].map((s) => s.output.join('')).join('\n');
  // A port chosen free can be taken by another process (an ops server on port 0) before the
  // ingress binds it: then another server would answer this stack's requests. The ingress must say
  // it listens; if it died instead, the stack starts again on another port.
  for (let attempt = 1; ; attempt++) {
    const port = extraEnv.AGENTQ_PORT ? Number(extraEnv.AGENTQ_PORT) : await freePort();
    url = `http://127.0.0.1:${port}`;
    env.AGENTQ_PORT = String(port);
    if (extraEnv.AGENTQ_PUBLIC_URL === undefined) env.AGENTQ_PUBLIC_URL = url;
    await Promise.all(only.map((name) => start(name)));
    const ingress = services.get('ingress');
    if (!ingress) break;
    const outcome = await waitFor(
      () => (ingress.output.join('').includes('ingress listening') ? 'listening' : ingress.child.exitCode !== null ? 'exited' : undefined),
      { timeoutMs: 30_000, what: 'the ingress to listen' },
    );
    if (outcome === 'listening') break;
    if (attempt === 3 || extraEnv.AGENTQ_PORT) throw new Error(`the ingress did not start:\n${logs()}`);
    await Promise.all([...services.keys()].map((name) => kill(name, 'SIGKILL')));
    services.clear();
  }
  await waitFor(
    async () => {
      const res = await fetch(`${url}/readyz`).catch(() => undefined);
      return res?.status === 200;
    },
    { timeoutMs: 30_000, what: 'ingress /readyz' },
  );

  return {
    url,
    token,
    dataDir: data.path,
    env,
    services,
    logs,
    start,
    kill,
    api: (path, init = {}) =>
      fetch(`${url}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
      }),
    stop: async () => {
      await Promise.all([...services.keys()].map((name) => kill(name, 'SIGTERM')));
      await redis.stop();
      await data.remove();
    },
  };
}
