import {
  callbackUrlProblem,
  normalizeCallbackHost,
  queues,
  retryDelay,
  type Clock,
  type Logger,
  type RetryPolicy,
  type TaskStore,
  type TranscriptArchive,
} from '@agentq/shared';
import { UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { Counter } from 'prom-client';
import { CallbackNotDeliveredError, type RelayErrorCode } from '../../relay-errors.js';
import { CALLBACK_EVENT, sendCallback, type CallbackPayload } from './callback-request.js';

export interface CallbackJobDeps {
  store: TaskStore;
  /** Where a finished task's record is read once Redis no longer holds it. */
  archive: TranscriptArchive;
  logger: Logger;
  /** `agentq_relay_callbacks_total{outcome}`. */
  callbacks: Counter;
  /** Key that signs the callbacks (`AGENTQ_CALLBACK_SECRET`). Secret: never log this. */
  secret: string;
  /** Hosts callbacks may go to (`AGENTQ_CALLBACK_HOSTS`), checked again before every request. */
  allowedHosts: readonly string[];
  /** Waits between attempts; also the longest wait a `Retry-After` gets. */
  retry: RetryPolicy;
  /** Time one request may take, answer included. */
  requestTimeoutMs: number;
  clock: Clock;
}

/** What a job that completed returns (kept by BullMQ as its return value). */
export interface CallbackResult {
  status: string;
}

/**
 * Sends the completion callback of one job of the `callbacks` queue (one attempt): the task's
 * final record, signed, to its `callbackUrl`. Resolves when it was delivered (2xx). Throws
 * `UnrecoverableError` when it failed for good (refused, URL not allowed, no such task, or the last
 * attempt failed), `CallbackNotDeliveredError` (with its wait) when it is worth another attempt,
 * and hands the job back (`WaitingError`) when `signal` cut the request off (the relay is
 * closing): that attempt is not counted, another relay sends it again.
 */
export async function sendCallbackJob(deps: CallbackJobDeps, job: Job, token: string | undefined, signal?: AbortSignal): Promise<CallbackResult | undefined> {
  const attempt = job.attemptsMade + 1;
  const parsed = queues.callbacks.schema.safeParse(job.data);
  if (!parsed.success) {
    deps.logger.warn({ jobId: job.id, code: 'RELAY_CALLBACK_JOB_INVALID' satisfies RelayErrorCode }, 'callbacks job without a task id; failed');
    throw new UnrecoverableError('job data is not {taskId}');
  }
  const { taskId } = parsed.data;
  const task = (await deps.store.get(taskId)) ?? (await deps.archive.readTask(taskId));
  if (!task) {
    deps.callbacks.inc({ outcome: 'failed' });
    deps.logger.warn({ taskId, code: 'RELAY_TASK_UNKNOWN' satisfies RelayErrorCode }, 'completion callback not sent: the task has no record');
    throw new UnrecoverableError('the task has no record');
  }
  const url = task.callbackUrl;
  if (url === undefined) return undefined;
  const log = deps.logger.child({ taskId, sink: 'callback', host: hostOf(url) });
  const problem = callbackUrlProblem(url, deps.allowedHosts);
  if (problem) {
    deps.callbacks.inc({ outcome: 'failed' });
    log.warn({ reason: problem.reason, code: 'RELAY_CALLBACK_NOT_ALLOWED' satisfies RelayErrorCode }, 'completion callback not sent: its URL may not be called');
    throw new UnrecoverableError('completion callback URL not allowed');
  }
  const body = JSON.stringify({ event: CALLBACK_EVENT, task } satisfies CallbackPayload);
  const result = await sendCallback({ url, body, deliveryId: taskId, secret: deps.secret, now: deps.clock.now(), timeoutMs: deps.requestTimeoutMs, signal });
  if (result.kind === 'aborted') {
    await job.moveToWait(token);
    throw new WaitingError();
  }
  if (result.kind === 'blocked') {
    deps.callbacks.inc({ outcome: 'failed' });
    log.warn(
      { attempts: attempt, reason: result.reason, address: result.address, code: 'RELAY_CALLBACK_ADDRESS_REFUSED' satisfies RelayErrorCode },
      'completion callback not sent: its host resolved to an address callbacks may not reach; not retried',
    );
    throw new UnrecoverableError(`completion callback address not allowed (${result.reason})`);
  }
  if (result.kind === 'delivered') {
    deps.callbacks.inc({ outcome: 'delivered' });
    log.info({ attempts: attempt, status: result.status }, 'completion callback delivered');
    return { status: result.status };
  }
  const lastAttempt = attempt >= (job.opts.attempts ?? 1);
  if (result.kind === 'refused' || lastAttempt) {
    deps.callbacks.inc({ outcome: 'failed' });
    log.warn(
      { attempts: attempt, status: result.status, code: 'RELAY_CALLBACK_FAILED' satisfies RelayErrorCode },
      result.kind === 'refused' ? 'completion callback refused; not retried' : 'completion callback failed; giving up after the last attempt',
    );
    throw new UnrecoverableError(`completion callback failed (${result.status})`);
  }
  const retryInMs = result.retryAfterMs !== undefined ? Math.min(deps.retry.maxMs, result.retryAfterMs) : retryDelay(deps.retry, attempt);
  deps.callbacks.inc({ outcome: 'retried' });
  log.info({ attempts: attempt, status: result.status, error: result.error, retryInMs, code: 'RELAY_CALLBACK_RETRY' satisfies RelayErrorCode }, 'completion callback not delivered; retrying');
  throw new CallbackNotDeliveredError(result.status, retryInMs);
}

function hostOf(url: string): string | undefined {
  try {
    return normalizeCallbackHost(new URL(url).hostname);
  } catch {
    return undefined;
  }
}
