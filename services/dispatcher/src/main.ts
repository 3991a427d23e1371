// Before anything else: the supervisor is watched while the modules below are evaluated.
import { supervisor } from '@agentq/shared/supervisor';
import {
  ConfigError,
  ShutdownManager,
  createLogger,
  createMetricsRegistry,
  errorMessage,
  loadConfig,
  serviceSecrets,
  startOpsServer,
} from '@agentq/shared';
import { startDispatcher } from './dispatcher.js';
import { RuntimeSecrets } from './runtime-secrets.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    process.stderr.write(`${err instanceof ConfigError ? err.message : errorMessage(err)}\n`);
    process.exit(1);
  }
  // one redactor for the logs and the task store, which also hides the tokens of running tasks
  const secrets = new RuntimeSecrets(serviceSecrets(config));
  const logger = createLogger({ service: 'dispatcher', level: config.logLevel, redact: secrets.redact, pretty: config.logPretty });
  const shutdown = new ShutdownManager(logger, config.shutdownTimeoutMs);
  shutdown.installSignalHandlers(supervisor);
  const registry = createMetricsRegistry('dispatcher');

  if (config.missingSandboxVars.length > 0) {
    logger.warn({ missing: config.missingSandboxVars }, 'sandbox variables listed in AGENTQ_SANDBOX_ENV are not set');
  }
  const dispatcher = await startDispatcher({ config, logger, registry, secrets });
  const ops = await startOpsServer({
    host: config.host,
    port: config.dispatcherPort,
    registry,
    ready: () => (shutdown.isShuttingDown ? Promise.resolve(false) : dispatcher.ready()),
    info: () => ({ sandbox: dispatcher.sandbox }),
  });
  shutdown.register('ops server', () => ops.close());
  shutdown.register('dispatcher', () => dispatcher.close());
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
