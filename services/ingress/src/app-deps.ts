import type { ApiToken, Config, GitHubApp, LocalForge, Logger, SlackPolicy, TaskStore, TranscriptArchive } from '@agentq/shared';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';

/** Everything the ingress app needs; `main.ts` builds these once, tests build their own. */
export interface AppDeps {
  config: Config;
  /** A fail-fast client (`connectRedis(url, {failFast: true})`): commands fail at once while Redis is down. */
  redis: Redis;
  /** The BullMQ queue `queues.tasks.name` with `prefix: keys.bullPrefix`. */
  queue: Queue;
  store: TaskStore;
  archive: TranscriptArchive;
  forge: LocalForge;
  /** The GitHub App, built once from `config.github` (undefined without one). */
  github?: GitHubApp;
  logger: Logger;
  metrics: Registry;
  apiTokens: readonly ApiToken[];
  viewerSecret: string;
  /** Opens a connection for the shared blocking reads of live streams (at most `AGENTQ_SSE_REDIS_CONNECTIONS` of them; closed with the app). */
  openBlockingRedis: () => Redis;
  isShuttingDown: () => boolean;
  /** The Slack policy; by default read from `config.slack.policyFile` when the app starts (open without one). */
  slackPolicy?: SlackPolicy;
  /** Interval of SSE heartbeat comments (default 15 s). */
  sseHeartbeatMs?: number;
  /** How long one shared blocking read waits; a task quiet that long is checked on (default 5 s). */
  sseBlockMs?: number;
}
