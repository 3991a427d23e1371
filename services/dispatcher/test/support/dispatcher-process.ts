/**
 * A dispatcher as a process of its own, with short queue lock timings, so tests can SIGKILL it
 * mid-task. Configured like `main.ts` from the environment; `AGENTQ_TEST_LOCK_MS` sets the lock.
 */
import { createLogger, createRedactor, loadConfig } from '@agentq/shared';
import { startDispatcher } from '../../src/dispatcher.js';

const config = loadConfig(process.env);
const logger = createLogger({ service: 'dispatcher', level: config.logLevel, redact: createRedactor(Object.values(config.sandboxSecrets)) });
const lockMs = Number(process.env.AGENTQ_TEST_LOCK_MS ?? '2000');
await startDispatcher({ config, logger, worker: { lockDurationMs: lockMs, stalledIntervalMs: lockMs / 2 } });
process.send?.('ready');
