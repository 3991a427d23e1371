import type { Redis } from 'ioredis';
import type { Config, LocalForge, Logger, Redact, RedisKeys, TaskStore } from '@agentq/shared';
import type { CancelListener } from '../cancel-listener.js';
import type { DispatcherMetrics } from '../dispatcher-metrics.js';
import type { GitHubDeps } from '../github/github-run.js';
import type { SlotKeeper } from '../limits/slot-keeper.js';
import type { SlotLedger } from '../limits/slot-ledger.js';
import type { SandboxProvider } from '../providers/sandbox-provider.js';
import type { RuntimeSecrets } from '../runtime-secrets.js';

/** What running tasks takes: the service's clients, settings and metrics. */
export interface RunnerDeps {
  config: Config;
  redis: Redis;
  keys: RedisKeys;
  store: TaskStore;
  provider: SandboxProvider;
  forge: LocalForge;
  redact: Redact;
  /** The redactor behind `redact`: secrets of running tasks (installation tokens) are added to it. */
  secrets: RuntimeSecrets;
  /** Set when a GitHub App is configured: repositories not in the local forge go through GitHub. */
  github?: GitHubDeps;
  logger: Logger;
  metrics: DispatcherMetrics;
  cancels: CancelListener;
  /** The concurrency slots of the whole pool. */
  slots: SlotLedger;
  /** Renews the leases of the slots this dispatcher's tasks hold. */
  keeper: SlotKeeper;
  /** Aborted when the dispatcher shuts down: running tasks are handed over, their sandboxes left running. */
  handover: AbortSignal;
  /** How often the record is checked for a cancel request. */
  cancelPollMs?: number;
}
