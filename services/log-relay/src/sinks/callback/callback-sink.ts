import {
  errorMessage,
  queues,
  retryDelay,
  settleWithin,
  systemClock,
  type CallbackJob,
  type Clock,
  type Logger,
  type RedisKeys,
  type RetryPolicy,
  type TaskRecord,
  type TaskStore,
  type TranscriptArchive,
} from '@agentq/shared';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import { CallbackNotDeliveredError, type RelayErrorCode } from '../../relay-errors.js';
import { sinkPending, type Sink } from '../sink.js';
import { sendCallbackJob, type CallbackResult } from './callback-job.js';

export interface CallbackSinkOptions {
  /** Connection for enqueueing (commands fail while Redis is unreachable: the relay retries). */
  redis: Redis;
  /** Connection of the worker (`maxRetriesPerRequest: null`, as BullMQ's workers need); closed by `close`. */
  workerConnection: Redis;
  keys: RedisKeys;
  store: TaskStore;
  archive: TranscriptArchive;
  logger: Logger;
  registry: Registry;
  /** Key that signs the callbacks (`AGENTQ_CALLBACK_SECRET`). Secret: never log this. */
  secret: string;
  /** Hosts callbacks may go to (`AGENTQ_CALLBACK_HOSTS`), checked again before every request. */
  allowedHosts: readonly string[];
  /** Requests per callback before it is given up (default 8). */
  maxAttempts?: number;
  /** Wait before the second attempt, doubling up to `retryMaxMs` (defaults 5 s, 5 min: 8 attempts span about 10 minutes). */
  retryBaseMs?: number;
  /** Longest wait between two attempts, `Retry-After` included. */
  retryMaxMs?: number;
  /** Spread of each wait (default 0.2: ±20 %). */
  retryJitter?: number;
  /** Time one request may take, answer included (default 10 s). */
  requestTimeoutMs?: number;
  /** Callbacks one relay sends at once (default 8). */
  concurrency?: number;
  /** How long `close` waits for requests in flight, so their outcome is recorded (default 5 s). */
  closeTimeoutMs?: number;
  /** Signature timestamps (default: the system clock). */
  clock?: Clock;
}

/** Once aborted at the close deadline, how long requests get to hand their jobs back. */
const ABORT_GRACE_MS = 1000;

/**
 * Completion callbacks, as jobs of the `callbacks` queue. When a task that has a `callbackUrl`
 * ends, `finish` enqueues its job (id: the task id, so a task is enqueued once, however often it
 * is finished) and resolves: the task is acknowledged without waiting for the receiver. The
 * relay's worker sends each job's callback (see `sendCallbackJob`): BullMQ keeps the attempts
 * (they survive a restart and continue on any relay), waits between them with this relay's
 * backoff strategy (the retry policy, or the receiver's `Retry-After` up to the longest wait), and
 * keeps the job (delivered or failed) so that nothing is sent again.
 */
export class CallbackSink implements Sink {
  readonly name = 'callback';
  private readonly queue: Queue<CallbackJob>;
  private readonly worker: Worker<CallbackJob, CallbackResult | undefined>;
  private readonly maxAttempts: number;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: CallbackSinkOptions) {
    this.maxAttempts = Math.max(1, options.maxAttempts ?? queues.callbacks.jobOptions.attempts);
    const retry: RetryPolicy = { initialMs: options.retryBaseMs ?? 5000, maxMs: options.retryMaxMs ?? 300_000, jitter: options.retryJitter };
    const callbacks = new Counter({
      name: 'agentq_relay_callbacks_total',
      help: 'Completion callbacks by outcome: delivered (2xx), failed (refused, or given up after the last attempt), retried (an attempt that will be repeated).',
      labelNames: ['outcome'],
      registers: [options.registry],
    });
    for (const outcome of ['delivered', 'failed', 'retried']) callbacks.inc({ outcome }, 0);
    const logger = options.logger;
    const onError = (err: Error) => logger.warn({ err: errorMessage(err), code: 'RELAY_CALLBACK_QUEUE_ERROR' satisfies RelayErrorCode }, 'callbacks queue error');
    this.queue = new Queue<CallbackJob>(queues.callbacks.name, { connection: options.redis, prefix: options.keys.bullPrefix });
    this.queue.on('error', onError);
    const deps = {
      store: options.store,
      archive: options.archive,
      logger,
      callbacks,
      secret: options.secret,
      allowedHosts: options.allowedHosts,
      retry,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      clock: options.clock ?? systemClock,
    };
    this.worker = new Worker<CallbackJob, CallbackResult | undefined>(
      queues.callbacks.name,
      (job: Job<CallbackJob>, token?: string, signal?: AbortSignal) => sendCallbackJob(deps, job, token, signal),
      {
        connection: options.workerConnection,
        prefix: options.keys.bullPrefix,
        concurrency: options.concurrency ?? 8,
        // a relay that dies mid-request leaves its job stalled: it is sent again, not failed
        maxStalledCount: 5,
        settings: {
          // the processor decided the wait (`Retry-After`, or the policy); anything else unforeseen gets the policy's
          backoffStrategy: (attemptsMade, _type, err) => (err instanceof CallbackNotDeliveredError ? err.retryInMs : retryDelay(retry, attemptsMade)),
        },
      },
    );
    this.worker.on('error', onError);
  }

  /** The worker takes jobs (false once closing). */
  running(): boolean {
    return this.closing === undefined && this.worker.isRunning();
  }

  async deliver(): Promise<void> {
    // only the final record is sent
  }

  async finish(task: TaskRecord): Promise<void> {
    if (task.callbackUrl === undefined) return;
    // closing: the next owner of the task enqueues it
    if (this.closing) throw sinkPending(this.name, task.id);
    const { jobOptions, jobId } = queues.callbacks;
    await this.queue.add(queues.callbacks.name, { taskId: task.id }, { ...jobOptions, attempts: this.maxAttempts, jobId: jobId(task.id) });
  }

  /**
   * Stops taking jobs and waits (up to `closeTimeoutMs`) for the requests in flight, so their
   * outcome is recorded; past that they are aborted and their jobs handed back. Safe to call twice.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    const closed = this.worker.close();
    if (!(await settleWithin([closed], this.options.closeTimeoutMs ?? 5000))) {
      this.options.logger.warn({ code: 'RELAY_CALLBACK_CLOSE_TIMEOUT' satisfies RelayErrorCode }, 'completion callbacks still in flight at shutdown; aborted');
      this.worker.cancelAllJobs('the relay is closing');
      await settleWithin([closed], ABORT_GRACE_MS);
    }
    await settleWithin([this.queue.close()], ABORT_GRACE_MS);
    this.options.workerConnection.disconnect();
  }
}
