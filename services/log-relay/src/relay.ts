import {
  TaskStore,
  connectRedis,
  createSlackTokenResolver,
  errorMessage,
  openTaskQueue,
  openTranscriptArchive,
  redisKeys,
  requireRedisUrl,
  resolveViewerSecret,
  viewerUrl,
  waitingPositions,
  type Config,
  type Logger,
  type SlackTokenResolver,
  type TranscriptArchive,
} from '@agentq/shared';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { TaskClaims } from './claims/task-claims.js';
import { EventPump } from './follow/event-pump.js';
import { BlockingConnection } from './redis/blocking-connection.js';
import type { RelayErrorCode } from './relay-errors.js';
import { RelayMetrics } from './relay-metrics.js';
import { ArchiveHealth } from './sinks/archive-health.js';
import { CallbackSink, type CallbackSinkOptions } from './sinks/callback/callback-sink.js';
import type { Sink } from './sinks/sink.js';
import { SlackSink, type SlackSinkOptions } from './sinks/slack/slack-sink.js';
import { StorageSink } from './sinks/storage-sink.js';

export interface RelayDeps {
  config: Config;
  logger: Logger;
  /** Connection for ordinary commands; the relay opens its blocking connections from it. */
  redis?: Redis;
  /** Default: the archive `AGENTQ_ARCHIVE_URL` names (`openTranscriptArchive(config)`). */
  archive?: TranscriptArchive;
  /** How often the archive is checked while nothing is written (default 15 s). */
  archiveCheckEveryMs?: number;
  /** Default: the storage sink on `archive`, the callback sink when callbacks are on, and the Slack sink when Slack is configured. */
  sinks?: Sink[];
  /** Registry for the relay's metrics (default: a private one). */
  registry?: Registry;
  /** Bot token of a task's Slack workspace (default: `SLACK_BOT_TOKEN`, or the workspace's installation). */
  slackToken?: SlackTokenResolver;
  /** Timings of the Slack sink (defaults suit production). */
  slack?: Pick<SlackSinkOptions, 'queuePollMs' | 'elapsedRefreshMs' | 'retryBaseMs' | 'retryMaxMs' | 'rateLimitRetries' | 'closeTimeoutMs'>;
  /** Timings of the completion callbacks (defaults suit production). */
  callback?: Pick<CallbackSinkOptions, 'maxAttempts' | 'retryBaseMs' | 'retryMaxMs' | 'retryJitter' | 'requestTimeoutMs' | 'concurrency' | 'closeTimeoutMs'>;
}

export interface Relay {
  /**
   * Redis reachable, the transcript archive taking writes, the callbacks worker (when callbacks
   * are on) running, and not shutting down.
   */
  ready(): Promise<boolean>;
  /** Task ids this relay owns now. */
  ownedTasks(): string[];
  /**
   * Stops reading, delivers and acknowledges what was read, hands the owned tasks back to the task
   * list for the next relay, and closes the connections it opened. Safe to call twice.
   */
  close(): Promise<void>;
}

const READY_TIMEOUT_MS = 1000;
const ERROR_LOG_INTERVAL_MS = 30_000;

function watchErrors(connection: Redis, logger: Logger, name: string): void {
  let lastMessage = '';
  let lastAt = 0;
  connection.on('error', (err: Error) => {
    const now = Date.now();
    if (err.message === lastMessage && now - lastAt < ERROR_LOG_INTERVAL_MS) return;
    lastMessage = err.message;
    lastAt = now;
    logger.warn({ err, connection: name, code: 'RELAY_REDIS_ERROR' satisfies RelayErrorCode }, 'redis connection error');
  });
}

/**
 * Starts the log relay: it learns tasks from the task list, owns each task through the consumer
 * group `relay`, and delivers the task's events to the sinks until its final state.
 */
export function startRelay(deps: RelayDeps): Relay {
  const { config } = deps;
  const logger = deps.logger.child({ consumer: config.relayConsumer });
  const keys = redisKeys(config.redisPrefix);
  const ownsRedis = deps.redis === undefined;
  // commands fail while Redis is unreachable instead of queueing: every loop retries on its own
  const redis = deps.redis ?? connectRedis(requireRedisUrl(config), { connectionName: 'agentq-relay', maxRetriesPerRequest: 0 });
  const blockingOptions = { commandTimeout: undefined, maxRetriesPerRequest: 0, enableOfflineQueue: true };
  const tasksConnection = redis.duplicate({ ...blockingOptions, connectionName: 'agentq-relay-tasks' });
  const eventsConnection = redis.duplicate({ ...blockingOptions, connectionName: 'agentq-relay-events' });
  if (ownsRedis) watchErrors(redis, logger, 'commands');
  watchErrors(tasksConnection, logger, 'tasks');
  watchErrors(eventsConnection, logger, 'events');

  const ownsArchive = deps.archive === undefined;
  const archive = deps.archive ?? openTranscriptArchive(config);
  const registry = deps.registry ?? new Registry();
  const metrics = new RelayMetrics(registry);
  const archiveHealth = new ArchiveHealth({ archive, logger, metrics, checkEveryMs: deps.archiveCheckEveryMs });
  const store = new TaskStore(redis, keys);
  let queue: ReturnType<typeof openTaskQueue> | undefined;
  const sinks: Sink[] = deps.sinks ?? [new StorageSink(archive, archiveHealth)];
  let callbacks: CallbackSink | undefined;
  if (!deps.sinks && config.callbacks) {
    callbacks = new CallbackSink({
      ...deps.callback,
      redis,
      workerConnection: redis.duplicate({ ...blockingOptions, maxRetriesPerRequest: null, connectionName: 'agentq-relay-callbacks' }),
      keys,
      store,
      archive,
      logger,
      registry,
      secret: config.callbacks.secret,
      allowedHosts: config.callbacks.hosts,
    });
    sinks.push(callbacks);
  }
  if (!deps.sinks && config.slack) {
    const secret = resolveViewerSecret(config);
    sinks.push(
      new SlackSink({
        ...deps.slack,
        redis,
        keys,
        store,
        logger,
        registry,
        resolveToken: deps.slackToken ?? createSlackTokenResolver({ config, redis, keys }),
        apiUrl: config.slack.apiUrl,
        statusIntervalMs: config.slack.statusIntervalMs,
        viewerUrl: (taskId) => viewerUrl(config.publicUrl, secret, taskId),
        deliveryTtlSec: config.eventsTtlSec,
        owns: (taskId) => claims.isFresh(taskId),
        queuePositions: async () => {
          queue ??= openTaskQueue(redis, keys).then((opened) => {
            opened.on('error', (err) => logger.debug({ err: errorMessage(err) }, 'task queue error'));
            return opened;
          });
          return waitingPositions(await queue);
        },
      }),
    );
  }
  const tasksReader = new BlockingConnection(tasksConnection, redis);
  const eventsReader = new BlockingConnection(eventsConnection, redis);

  const claims = new TaskClaims({
    redis,
    blocking: tasksReader,
    keys,
    consumer: config.relayConsumer,
    claimIdleMs: config.relayClaimIdleMs,
    logger,
    metrics,
    onChange: () => pump.wake(),
  });
  const pump = new EventPump({
    redis,
    blocking: eventsReader,
    keys,
    store,
    claims,
    sinks,
    eventsTtlSec: config.eventsTtlSec,
    logger,
    metrics,
  });
  metrics.observe({ ownedTasks: () => claims.size, lagEvents: () => pump.lag() });
  claims.start();
  pump.start();
  archiveHealth.start();
  logger.info({ claimIdleMs: config.relayClaimIdleMs, sinks: sinks.map((s) => s.name), archive: archive.location }, 'log relay started');

  let closing: Promise<void> | undefined;
  const close = async () => {
    await claims.stopDiscovery();
    await pump.stop();
    for (const sink of sinks) await sink.close?.();
    await archiveHealth.stop();
    if (ownsArchive) archive.close?.();
    if (queue) await (await queue.catch(() => undefined))?.close().catch(() => {});
    await claims.stopMaintenance();
    let handedOver = 0;
    if (redis.status === 'ready') {
      handedOver = await claims.handOver();
    } else if (claims.size > 0) {
      logger.warn({ tasks: claims.size, code: 'RELAY_REDIS_UNREACHABLE' satisfies RelayErrorCode }, 'redis unreachable at shutdown; owned tasks are taken over after the claim idle time');
    }
    tasksReader.detach();
    eventsReader.detach();
    tasksConnection.disconnect();
    eventsConnection.disconnect();
    if (ownsRedis) {
      if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    }
    logger.info({ handedOver }, 'log relay stopped');
  };

  return {
    ownedTasks: () => claims.taskIds(),
    ready: async () => {
      if (closing) return false;
      let timer: NodeJS.Timeout | undefined;
      try {
        const pong = await Promise.race([
          redis.ping(),
          new Promise<string>((resolve) => {
            timer = setTimeout(() => resolve('timeout'), READY_TIMEOUT_MS);
          }),
        ]);
        return pong === 'PONG' && archiveHealth.isUp && (callbacks?.running() ?? true);
      } catch {
        return false;
      } finally {
        if (timer) clearTimeout(timer);
      }
    },
    close: () => {
      closing ??= close();
      return closing;
    },
  };
}
