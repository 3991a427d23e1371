import {
  ConfigError,
  ShutdownManager,
  createLogger,
  createMetricsRegistry,
  configSecrets,
  createRedactor,
  errorMessage,
  loadConfig,
  startOpsServer,
} from '@agentq/shared';
import { startDispatcher } from './dispatcher.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    process.stderr.write(`${err instanceof ConfigError ? err.message : errorMessage(err)}\n`);
    process.exit(1);
  }
  const redact = createRedactor(configSecrets(config));
  const logger = createLogger({ service: 'dispatcher', level: config.logLevel, redact, pretty: config.logPretty });
  const shutdown = new ShutdownManager(logger, config.shutdownTimeoutMs);
  const registry = createMetricsRegistry('dispatcher');

  if (config.missingSandboxVars.length > 0) {
    logger.warn({ missing: config.missingSandboxVars }, 'sandbox variables listed in AGENTQ_SANDBOX_ENV are not set');
  }
  const dispatcher = await startDispatcher({ config, logger, registry });
  const ops = await startOpsServer({
    host: config.host,
    port: config.dispatcherPort,
    registry,
    ready: () => (shutdown.isShuttingDown ? Promise.resolve(false) : dispatcher.ready()),
  });
  shutdown.register('ops server', () => ops.close());
  shutdown.register('dispatcher', () => dispatcher.close());
  shutdown.installSignalHandlers();
  logger.info(
    {
      harness: config.harness,
      provider: config.sandboxProvider,
      concurrency: config.dispatcherConcurrency,
      sandboxVars: Object.keys(config.sandboxSecrets),
      port: ops.port,
    },
    'dispatcher started',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`dispatcher failed to start: ${errorMessage(err)}\n`);
  process.exit(1);
});
