// Before anything else: the supervisor is watched while the modules below are evaluated.
import { supervisor } from '@agentq/shared/supervisor';
import { join } from 'node:path';
import {
  API_TOKEN_FILE,
  GitHubApp,
  LocalForge,
  ShutdownManager,
  TaskStore,
  connectRedis,
  createLogger,
  createMetricsRegistry,
  createRedactor,
  errorMessage,
  loadConfig,
  openTranscriptArchive,
  queues,
  redisKeys,
  requireRedisUrl,
  resolveApiTokens,
  resolveViewerSecret,
  serviceSecrets,
  startOpsServer,
} from '@agentq/shared';
import { Queue } from 'bullmq';
import { buildApp } from './app.js';
import { notReadyReason } from './ops/ops-routes.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const { tokens, generated } = resolveApiTokens(config);
  const viewerSecret = resolveViewerSecret(config);
  const redact = createRedactor([...serviceSecrets(config), ...tokens.map((t) => t.token)]);
  const logger = createLogger({ service: 'ingress', level: config.logLevel, pretty: config.logPretty, redact });
  const shutdown = new ShutdownManager(logger, config.shutdownTimeoutMs);
  shutdown.installSignalHandlers(supervisor);

  const redisUrl = requireRedisUrl(config);
  const keys = redisKeys(config.redisPrefix);
  const redis = connectRedis(redisUrl, { failFast: true, connectionName: 'agentq-ingress' });
  let redisDown = false;
  redis.on('error', (err) => {
    if (redisDown) return;
    redisDown = true;
    logger.warn({ err: errorMessage(err) }, 'redis unavailable');
  });
  redis.on('ready', () => {
    if (!redisDown) return;
    redisDown = false;
    logger.info('redis available again');
  });
  shutdown.register('redis', () => void redis.disconnect());

  const queue = new Queue(queues.tasks.name, { connection: redis, prefix: keys.bullPrefix });
  queue.on('error', (err) => logger.debug({ err: errorMessage(err) }, 'queue error'));
  shutdown.register('queue', () => queue.close());

  const archive = openTranscriptArchive(config);
  shutdown.register('archive', () => archive.close?.());

  const metrics = createMetricsRegistry('ingress');
  const isShuttingDown = () => shutdown.isShuttingDown;
  const app = buildApp({
    config,
    redis,
    queue,
    store: new TaskStore(redis, keys, { redact }),
    archive,
    forge: new LocalForge(config.dataDir),
    github: config.github ? new GitHubApp(config.github, { logger }) : undefined,
    logger,
    metrics,
    apiTokens: tokens,
    viewerSecret,
    openBlockingRedis: () => connectRedis(redisUrl, { connectionName: 'agentq-ingress-events' }),
    isShuttingDown,
  });
  shutdown.register('http', () => app.close());
  // /metrics names teams: it is served on this private port only, never on the public one
  const ops = await startOpsServer({
    host: config.host,
    port: config.ingressOpsPort,
    registry: metrics,
    ready: async () => (await notReadyReason({ redis, isShuttingDown })) === undefined,
  });
  shutdown.register('ops server', () => ops.close());

  if (generated) {
    logger.info({ tokenFile: join(config.dataDir, API_TOKEN_FILE), team: tokens[0]?.team }, 'using a generated api token');
  }
  const address = await app.listen({ host: config.host, port: config.port });
  logger.info(
    {
      address,
      opsPort: ops.port,
      publicUrl: config.publicUrl,
      teams: [...new Set(tokens.map((t) => t.team))],
      slack: config.slack !== undefined,
      github: config.github !== undefined,
      archive: archive.location,
    },
    'ingress listening',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`ingress: ${errorMessage(err)}\n`);
  process.exit(1);
});
