import type { AddressInfo } from 'node:net';
import {
  DEMO_REPO,
  DEMO_REPO_FILES,
  GitHubApp,
  LocalForge,
  TaskStore,
  connectRedis,
  createLogger,
  createMetricsRegistry,
  loadConfig,
  openTranscriptArchive,
  queues,
  redisKeys,
  type ApiToken,
  type Config,
  type Logger,
  type RedisKeys,
  type TranscriptArchive,
} from '@agentq/shared';
import { makeTempDir, uniquePrefix } from '@agentq/shared/testing';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { buildApp } from '../src/index.js';

export const ADMIN_TOKEN = 'aq_test_default_token_0123456789';
export const ALPHA_TOKEN = 'aq_test_alpha_token_0123456789ab';
export const BETA_TOKEN = 'aq_test_beta_token_0123456789abc';
export const VIEWER_SECRET = 'viewer-secret-for-tests-0123456789';

export const TOKENS: ApiToken[] = [
  { token: ADMIN_TOKEN, team: 'default' },
  { token: ALPHA_TOKEN, team: 'alpha' },
  { token: BETA_TOKEN, team: 'beta' },
];

export const auth = (token = ADMIN_TOKEN) => ({ authorization: `Bearer ${token}` });

export interface IngressFixture {
  app: FastifyInstance;
  config: Config;
  redis: Redis;
  queue: Queue;
  store: TaskStore;
  keys: RedisKeys;
  forge: LocalForge;
  /** The archive the configuration names (`<data dir>/transcripts` unless `AGENTQ_ARCHIVE_URL` is set). */
  archive: TranscriptArchive;
  dataDir: string;
  /** Blocking connections the app opened for event streams. */
  blockingClients: Redis[];
  /** What the private ops port's `/metrics` serves. */
  metricsText: () => Promise<string>;
  /** `http://127.0.0.1:<port>` once `listen()` was called. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export interface FixtureOptions {
  env?: Record<string, string>;
  /** Redis for the BullMQ queue, when it must differ from the task store's. */
  queueRedisUrl?: string;
  sseHeartbeatMs?: number;
  sseBlockMs?: number;
  isShuttingDown?: () => boolean;
  /** The app's logger (default: silent). */
  logger?: Logger;
}

/** A built (not listening) ingress on a fresh key prefix and data dir, with the demo repo seeded. */
export async function startIngress(redisUrl: string, options: FixtureOptions = {}): Promise<IngressFixture> {
  const data = await makeTempDir('agentq-ingress-');
  const config = loadConfig({
    REDIS_URL: redisUrl,
    AGENTQ_REDIS_PREFIX: uniquePrefix('ing'),
    AGENTQ_DATA_DIR: data.path,
    AGENTQ_PUBLIC_URL: 'http://agentq.test',
    AGENTQ_MAX_PROMPT_CHARS: '200',
    AGENTQ_BODY_LIMIT_BYTES: '4096',
    ...options.env,
  });
  const keys = redisKeys(config.redisPrefix);
  const redis = connectRedis(redisUrl, { failFast: true });
  redis.on('error', () => {});
  const queueRedis = options.queueRedisUrl ? connectRedis(options.queueRedisUrl, { failFast: true }) : redis;
  queueRedis.on('error', () => {});
  const queue = new Queue(queues.tasks.name, { connection: queueRedis, prefix: keys.bullPrefix });
  queue.on('error', () => {});
  const store = new TaskStore(redis, keys);
  const forge = new LocalForge(config.dataDir);
  await forge.seed(DEMO_REPO, DEMO_REPO_FILES);
  const archive = openTranscriptArchive(config);
  const blockingClients: Redis[] = [];
  const metrics = createMetricsRegistry('ingress');
  const app = buildApp({
    config,
    redis,
    queue,
    store,
    archive,
    forge,
    github: config.github ? new GitHubApp(config.github) : undefined,
    logger: options.logger ?? createLogger({ service: 'ingress', level: 'silent' }),
    metrics,
    apiTokens: TOKENS,
    viewerSecret: VIEWER_SECRET,
    openBlockingRedis: () => {
      const client = connectRedis(redisUrl);
      client.on('error', () => {});
      blockingClients.push(client);
      return client;
    },
    isShuttingDown: options.isShuttingDown ?? (() => false),
    sseHeartbeatMs: options.sseHeartbeatMs,
    sseBlockMs: options.sseBlockMs,
  });
  await app.ready();
  return {
    app,
    config,
    redis,
    queue,
    store,
    keys,
    forge,
    archive,
    dataDir: data.path,
    blockingClients,
    metricsText: () => metrics.metrics(),
    listen: async () => {
      await app.listen({ host: '127.0.0.1', port: 0 });
      return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    },
    close: async () => {
      await app.close();
      await queue.close().catch(() => {});
      if (queueRedis !== redis) queueRedis.disconnect();
      redis.disconnect();
      for (const client of blockingClients) client.disconnect();
      archive.close?.();
      await data.remove();
    },
  };
}

/** A valid task request for the seeded demo repository. */
export function taskBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { repo: DEMO_REPO, prompt: 'add a CONTRIBUTING.md', ...overrides };
}

/** Jobs of every state in the tasks queue, and the size of the task index. */
export async function queueSnapshot(fx: IngressFixture): Promise<{ jobs: number; indexed: number; relay: number }> {
  const counts = await fx.queue.getJobCounts();
  const jobs = Object.values(counts).reduce((a, b) => a + b, 0);
  return { jobs, indexed: await fx.redis.zcard(fx.keys.taskIndex), relay: await fx.redis.xlen(fx.keys.relayTasks) };
}
