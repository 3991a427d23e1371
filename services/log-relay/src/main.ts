// Before anything else: the supervisor is watched while the modules below are evaluated.
import { supervisor } from '@agentq/shared/supervisor';
import {
  ShutdownManager,
  createLogger,
  createMetricsRegistry,
  createRedactor,
  errorMessage,
  loadConfig,
  requireRedisUrl,
  serviceSecrets,
  startOpsServer,
} from '@agentq/shared';
import { startRelay } from './relay.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  requireRedisUrl(config);
  const logger = createLogger({
    service: 'log-relay',
    level: config.logLevel,
    pretty: config.logPretty,
    redact: createRedactor(serviceSecrets(config)),
  });
  const shutdown = new ShutdownManager(logger, config.shutdownTimeoutMs);
  shutdown.installSignalHandlers(supervisor);
  const registry = createMetricsRegistry('log-relay');
  const relay = startRelay({ config, logger, registry });
  const ops = await startOpsServer({
    host: config.host,
    port: config.relayPort,
    registry,
    ready: async () => !shutdown.isShuttingDown && (await relay.ready()),
  });
  // handlers run in reverse order: the relay stops first, the ops server answers until then
  shutdown.register('ops-server', () => ops.close());
  shutdown.register('relay', () => relay.close());
  logger.info({ host: config.host, port: ops.port }, 'log relay ops server listening');
}

main().catch((err: unknown) => {
  process.stderr.write(`log relay failed to start: ${errorMessage(err)}\n`);
  process.exit(1);
});
