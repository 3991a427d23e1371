import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { DelayedError, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import {
  LocalForge,
  TaskStore,
  connectRedis,
  createMetricsRegistry,
  GitHubApp,
  errorMessage,
  openTaskQueue,
  queues,
  redisKeys,
  requireRedisUrl,
  resolveViewerSecret,
  serviceSecrets,
  viewerUrl,
  type Config,
  type Logger,
} from '@agentq/shared';
import { CancelListener } from './cancel-listener.js';
import { createDispatcherMetrics } from './dispatcher-metrics.js';
import type { GitHubDeps } from './github/github-run.js';
import { JobPromoter } from './limits/job-promoter.js';
import { SlotKeeper } from './limits/slot-keeper.js';
import { SlotLedger } from './limits/slot-ledger.js';
import { registerSlotMetrics } from './limits/slot-metrics.js';
import { SlotReclaimer } from './limits/slot-reclaimer.js';
import { createProvider, providerWarnings } from './providers/create-provider.js';
import { RuntimeSecrets } from './runtime-secrets.js';
import type { SandboxProvider } from './providers/sandbox-provider.js';
import { taskErrorOf } from './dispatch-errors.js';
import { abandonTask } from './run/finisher.js';
import type { RunEnd } from './run/run-end.js';
import type { RunnerDeps } from './run/runner-deps.js';
import { TaskRunner } from './run/task-runner.js';
import { DEPLOYMENT_TAG, TASK_TAG } from './sandbox-tags.js';
import { SandboxSweeper } from './sandbox-sweeper.js';

/** Queue timings; the lock and stalled check default to the configured ones, tests shorten them. */
export interface WorkerTuning {
  /** How long a job stays locked to a dispatcher that stopped renewing the lock (crashed). */
  lockDurationMs?: number;
  /** How often locks of crashed dispatchers are looked for. */
  stalledIntervalMs?: number;
  /** How often a running task's record is checked for a cancel request. */
  cancelPollMs?: number;
  /** How long a task that waits for another task to end is put aside before it is looked at again. */
  waitRecheckMs?: number;
  /** Longest a task waiting for a concurrency slot is put aside before it looks again (`AGENTQ_SLOT_RECHECK_MS`). */
  slotRecheckMs?: number;
  /** Time between two looks for slots whose lease ran out (all dispatchers together); half a lease by default. */
  reclaimIntervalMs?: number;
  /** Time between two sandbox sweeps (all dispatchers together). */
  sweepIntervalMs?: number;
}

export interface DispatcherDeps {
  config: Config;
  logger: Logger;
  provider?: SandboxProvider;
  /** Metrics registry to register in (one is created when absent). */
  registry?: Registry;
  worker?: WorkerTuning;
  /**
   * The redactor of the service (give the logger its `redact`, so the installation tokens of
   * running tasks never reach the logs); one is made from the configured secrets when absent.
   */
  secrets?: RuntimeSecrets;
  github?: {
    /** The App to act as (made from `config.github` when absent). */
    app?: GitHubApp;
    /** How long before expiry a sandbox's installation token is replaced (10 minutes by default). */
    tokenRefreshMarginMs?: number;
  };
}

export interface Dispatcher {
  /** Stops taking jobs and hands running tasks over (their sandboxes keep running); closes connections. Safe to call twice. */
  close(): Promise<void>;
  /** Redis reachable and not shutting down. */
  ready(): Promise<boolean>;
  readonly registry: Registry;
  /** The sandbox provider and how it isolates agents (for `/healthz`). */
  readonly sandbox: { provider: string; isolation?: { mode: string; note?: string } };
}

/** Longest wait for Redis to answer a readiness check. */
const READY_TIMEOUT_MS = 1000;
/** Longest wait at shutdown for running tasks to hand their jobs back. */
const HANDOVER_DEADLINE_MS = 5000;
/** Default time before a waiting task is looked at again. */
const WAIT_RECHECK_MS = 1500;

function watchConnection(redis: Redis, name: string, logger: Logger): void {
  let reported = false;
  redis.on('error', (err: Error) => {
    if (reported) return;
    reported = true;
    logger.warn({ connection: name, err: err.message }, 'redis connection error');
  });
  redis.on('ready', () => {
    if (reported) logger.info({ connection: name }, 'redis connection restored');
    reported = false;
  });
}

/**
 * The dispatcher: takes task jobs from the queue, runs each task in a sandbox, streams its events
 * and records the result.
 */
export async function startDispatcher(deps: DispatcherDeps): Promise<Dispatcher> {
  const logger = deps.logger;
  // the harness runs in the repository's working tree: a relative CLI path must not depend on it
  // (in a container the path is the image's, left as it is)
  const config: Config = deps.config.claudeBin.includes('/') && deps.config.sandboxProvider === 'local'
    ? { ...deps.config, claudeBin: resolve(deps.config.claudeBin) }
    : deps.config;
  const url = requireRedisUrl(config);
  const keys = redisKeys(config.redisPrefix);
  const secrets = deps.secrets ?? new RuntimeSecrets(serviceSecrets(config));
  const redact = secrets.redact;
  const registry = deps.registry ?? createMetricsRegistry('dispatcher');
  const metrics = createDispatcherMetrics(registry);
  const provider = deps.provider ?? (await createProvider(config, logger));
  for (const warning of providerWarnings(config)) logger.warn({ provider: provider.name }, warning);

  const redis = connectRedis(url, { connectionName: 'agentq-dispatcher' });
  const subscriber = connectRedis(url, { connectionName: 'agentq-dispatcher-cancel' });
  const bull = connectRedis(url, { bullmq: true, connectionName: 'agentq-dispatcher-queue' });
  watchConnection(redis, 'store', logger);
  watchConnection(subscriber, 'cancel', logger);
  watchConnection(bull, 'queue', logger);

  const handover = new AbortController();
  let cancels: CancelListener;
  try {
    cancels = await CancelListener.start(subscriber, keys.cancelChannel, logger);
  } catch (err) {
    redis.disconnect();
    subscriber.disconnect();
    bull.disconnect();
    throw err;
  }
  const store = new TaskStore(redis, keys, { redact });
  const slotRecheckMs = deps.worker?.slotRecheckMs ?? config.slotRecheckMs;
  const slots = new SlotLedger({
    redis,
    keys,
    limits: config.limits,
    leaseMs: config.slotLeaseMs,
    // kept for a waiting task at least until its job looks again by itself
    reserveMs: config.slotLeaseMs + slotRecheckMs,
    owner: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
  });
  const promotions = await openTaskQueue(bull, keys);
  const promoter = new JobPromoter(promotions, store, slots, logger);
  slots.onHandOut = (taskIds) => promoter.promote(taskIds);
  const keeper = new SlotKeeper(slots, logger);
  registerSlotMetrics(registry, slots);
  let github: GitHubDeps | undefined;
  if (config.github) {
    const viewerSecret = resolveViewerSecret(config);
    github = {
      app: deps.github?.app ?? new GitHubApp(config.github, { logger }),
      config: config.github,
      redis,
      keys,
      viewerUrl: (taskId) => viewerUrl(config.publicUrl, viewerSecret, taskId),
      tokenRefreshMarginMs: deps.github?.tokenRefreshMarginMs,
    };
  }
  const runnerDeps: RunnerDeps = {
    config,
    redis,
    keys,
    store,
    provider,
    forge: new LocalForge(config.dataDir),
    redact,
    secrets,
    github,
    logger,
    metrics,
    cancels,
    slots,
    keeper,
    handover: handover.signal,
    cancelPollMs: deps.worker?.cancelPollMs,
  };

  const active = new Set<Promise<unknown>>();

  const handBack = async (job: Job, token: string | undefined): Promise<never> => {
    await job.moveToWait(token);
    throw new WaitingError();
  };

  // a task that must wait goes back to the queue as a delayed job: no worker slot is held, no
  // attempt used. One waiting for a concurrency slot is promoted when a slot is set aside for it;
  // its delay is the backstop.
  const waitRecheckMs = deps.worker?.waitRecheckMs ?? WAIT_RECHECK_MS;
  const putAside = async (job: Job, token: string | undefined, taskId: string, forSlot: boolean): Promise<never> => {
    await job.moveToDelayed(Date.now() + (forSlot ? slotRecheckMs : waitRecheckMs), token);
    // a slot set aside for it while it was still active here: its promotion found no delayed job
    if (forSlot && (await slots.reserved(taskId))) await promoter.promoteOne(taskId);
    throw new DelayedError();
  };

  const runJob = async (job: Job, token: string | undefined): Promise<RunEnd> => {
    const parsed = queues.tasks.schema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('job data is not {taskId}');
    const { taskId } = parsed.data;
    if (handover.signal.aborted) return handBack(job, token);
    metrics.runningTasks.inc();
    try {
      const end = await new TaskRunner(runnerDeps, taskId).run();
      if (end.kind === 'handover') return await handBack(job, token);
      if (end.kind === 'waiting') {
        if (end.reason === 'predecessor') metrics.jobsDeferred.inc();
        logger.debug({ taskId, reason: end.reason, after: end.on }, 'job deferred');
        return await putAside(job, token, taskId, end.reason !== 'predecessor');
      }
      if (end.kind === 'skipped') logger.info({ taskId, reason: end.reason }, 'job skipped');
      return end;
    } catch (err) {
      if (err instanceof WaitingError || err instanceof DelayedError) throw err;
      const message = errorMessage(err);
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      logger.error({ taskId, err: redact(message), attempt: job.attemptsMade + 1, lastAttempt }, 'task run failed');
      if (handover.signal.aborted) throw err;
      if (lastAttempt) {
        await abandonTask(runnerDeps, taskId, taskErrorOf(err)).catch(() => undefined);
        throw new UnrecoverableError(redact(message));
      }
      throw err;
    } finally {
      metrics.runningTasks.dec();
    }
  };

  // tracked until the job has been handed back (or put aside) in Redis, not just until the task's
  // run returns: closing the connections before that would leave the job locked until it stalls
  const processJob = async (job: Job, token?: string): Promise<RunEnd> => {
    const work = runJob(job, token);
    active.add(work);
    try {
      return await work;
    } finally {
      active.delete(work);
    }
  };

  // a job whose lock is not renewed for lockDuration (its dispatcher died) is found stalled by the
  // next check, at most stalledInterval later, and handed to a dispatcher that re-attaches
  const lockDuration = deps.worker?.lockDurationMs ?? config.dispatcherLockMs;
  const stalledInterval = deps.worker?.stalledIntervalMs ?? config.dispatcherStalledIntervalMs;
  const worker = new Worker(queues.tasks.name, processJob, {
    connection: bull,
    prefix: keys.bullPrefix,
    concurrency: config.dispatcherConcurrency,
    lockDuration,
    stalledInterval,
    // a dispatcher that crashes leaves its jobs stalled; they are picked up again, not failed
    maxStalledCount: 5,
  });
  worker.on('error', (err) => logger.warn({ err: redact(err.message) }, 'queue worker error'));
  worker.on('failed', (job, err) => {
    if (job) logger.warn({ taskId: job.data?.taskId, err: redact(err.message) }, 'job failed');
  });
  await worker.waitUntilReady();
  const sweeper = new SandboxSweeper({
    provider,
    store,
    redis,
    keys,
    logger,
    registry,
    tags: { [DEPLOYMENT_TAG]: config.redisPrefix },
    taskTag: TASK_TAG,
    intervalMs: deps.worker?.sweepIntervalMs ?? config.sandbox.sweepIntervalSec * 1000,
    keepMs: config.sandbox.keepHours * 3600 * 1000,
    slots,
  });
  sweeper.start();
  keeper.start();
  const reclaimer = new SlotReclaimer({
    ledger: slots,
    provider,
    store,
    redis,
    keys,
    logger,
    taskTag: TASK_TAG,
    intervalMs: deps.worker?.reclaimIntervalMs ?? Math.max(250, Math.floor(config.slotLeaseMs / 2)),
  });
  reclaimer.start();
  logger.info(
    {
      queue: queues.tasks.name,
      concurrency: config.dispatcherConcurrency,
      provider: provider.name,
      lockDuration,
      stalledInterval,
      limits: config.limits,
      slotLeaseMs: config.slotLeaseMs,
    },
    'dispatcher ready',
  );

  let closing: Promise<void> | undefined;
  return {
    registry,
    sandbox: { provider: provider.name, ...(provider.isolation ? { isolation: provider.isolation } : {}) },
    ready: async () => {
      if (closing) return false;
      const timeout = new Promise<string>((resolvePing) => setTimeout(() => resolvePing('timeout'), READY_TIMEOUT_MS).unref());
      try {
        return (await Promise.race([redis.ping(), timeout])) === 'PONG';
      } catch {
        return false;
      }
    },
    close: () => {
      closing ??= (async () => {
        await worker.pause(true).catch(() => undefined);
        await sweeper.close();
        await reclaimer.close();
        handover.abort();
        const all = Promise.allSettled([...active]);
        await Promise.race([all, new Promise((resolve) => setTimeout(resolve, HANDOVER_DEADLINE_MS).unref())]);
        // the slots of handed-over tasks stay; whoever takes a task over renews its lease
        await keeper.close();
        await worker.close(true).catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'queue worker close failed'));
        await promotions.close().catch(() => undefined);
        await cancels.close();
        await provider.close?.().catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'sandbox provider close failed'));
        await redis.quit().catch(() => redis.disconnect());
        await bull.quit().catch(() => bull.disconnect());
        logger.info('dispatcher closed');
      })();
      return closing;
    },
  };
}
