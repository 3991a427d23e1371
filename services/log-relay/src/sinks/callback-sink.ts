import { callbackUrlProblem, errorMessage, normalizeCallbackHost, settleWithin, signatureHeader, type Logger, type RedisKeys, type TaskRecord } from '@agentq/shared';
import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import { sinkPending, type Sink } from './sink.js';

export interface CallbackSinkOptions {
  redis: Redis;
  keys: RedisKeys;
  logger: Logger;
  registry: Registry;
  /** Key that signs the callbacks (`AGENTQ_CALLBACK_SECRET`). Secret: never log this. */
  secret: string;
  /** Hosts callbacks may go to (`AGENTQ_CALLBACK_HOSTS`), checked again before anything is sent. */
  allowedHosts: readonly string[];
  /** How long a task's delivery state is kept (the events' TTL). */
  deliveryTtlSec: number;
  /** True while this relay may deliver for the task (default: always). */
  owns?(taskId: string): boolean;
  /** Requests per callback before it is given up (default 8). */
  maxAttempts?: number;
  /** Wait before the second attempt, doubling up to `retryMaxMs` (defaults 5 s, 5 min: 8 attempts span about 10 minutes). */
  retryBaseMs?: number;
  /** Longest wait between two attempts, `Retry-After` included. */
  retryMaxMs?: number;
  /** Time one request may take, answer included (default 10 s). */
  requestTimeoutMs?: number;
  /** How long `close` waits for requests in flight, so their outcome is recorded (default 5 s). */
  closeTimeoutMs?: number;
  /** Milliseconds since the epoch (signature timestamps; default `Date.now`). */
  now?: () => number;
}

export type CallbackOutcome = 'delivered' | 'failed';

/** The body of a completion callback. */
export interface CallbackPayload {
  event: 'task.finished';
  /** The final task record, as `GET /v1/tasks/:id` returns it. */
  task: TaskRecord;
}

/**
 * What one request came to: delivered (2xx), failed for good (any other answer), or worth
 * another attempt (no answer, 408, 429, 5xx), after `retryAfterMs` when the receiver said so.
 */
type AttemptResult =
  | { kind: 'delivered'; status: string }
  | { kind: 'failed'; status: string }
  | { kind: 'retry'; status: string; retryAfterMs?: number }
  | { kind: 'stopped' };

interface Delivery {
  readonly taskId: string;
  readonly log: Logger;
  /** No further attempt starts (released, or the relay closes). */
  stopped: boolean;
  /** Set once known: delivered, or given up. */
  outcome: CallbackOutcome | undefined;
  lastStatus: string | undefined;
  /** The outcome is in Redis. */
  recorded: boolean;
  /** The background work returned (with or without an outcome). */
  ended: boolean;
  work: Promise<void>;
  readonly abort: AbortController;
  wake(): void;
}

/**
 * The delivery state of a task's callback, a hash at `keys.callbackDelivery(taskId)`:
 * `attempts` (requests started), `nextAt` (ms: the next attempt is not due before), and once known
 * `outcome` (`delivered` | `failed`) with the last `status` and its time `at`. A relay that finds an
 * outcome sends nothing; one that finds attempts without an outcome continues the count (the
 * attempt in flight when the previous owner stopped may have landed: receivers dedupe on
 * `X-Agentq-Delivery`).
 */
interface DeliveryState {
  nextAt: number;
  outcome: CallbackOutcome | undefined;
}

export const CALLBACK_EVENT = 'task.finished';
export const CALLBACK_USER_AGENT = 'agentq';

/** `Retry-After` as milliseconds (seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Sends each task's completion callback: when a task that has a `callbackUrl` ends, its final
 * record is POSTed there, signed with `AGENTQ_CALLBACK_SECRET` as signed webhooks are
 * (`X-Agentq-Signature: t=…,v1=…`), with `X-Agentq-Delivery: <task id>`. Delivery runs in the
 * background: `finish` says the sink is pending until the receiver answered 2xx, refused it for
 * good (any other answer; redirects are not followed), or every attempt failed. The outcome is
 * kept in Redis, so a relay that restarts or takes the task over sends nothing again.
 */
export class CallbackSink implements Sink {
  readonly name = 'callback';
  private readonly tasks = new Map<string, Delivery>();
  /** Work of released deliveries still in flight, which a new delivery of the task waits for. */
  private readonly retired = new Map<string, Promise<void>>();
  private readonly callbacks: Counter;
  private readonly maxAttempts: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly requestTimeoutMs: number;
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly options: CallbackSinkOptions) {
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 8);
    this.retryBaseMs = options.retryBaseMs ?? 5000;
    this.retryMaxMs = options.retryMaxMs ?? 300_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.callbacks = new Counter({
      name: 'agentq_relay_callbacks_total',
      help: 'Completion callbacks by outcome: delivered (2xx), failed (refused, or given up after the last attempt), retried (an attempt that will be repeated).',
      labelNames: ['outcome'],
      registers: [options.registry],
    });
    for (const outcome of ['delivered', 'failed', 'retried']) this.callbacks.inc({ outcome }, 0);
  }

  async deliver(): Promise<void> {
    // only the final record is sent
  }

  async finish(task: TaskRecord): Promise<void> {
    const url = task.callbackUrl;
    if (url === undefined) return;
    // closing: the next owner of the task delivers it
    if (this.closed) throw sinkPending(this.name, task.id);
    const current = this.tasks.get(task.id);
    if (current) {
      if (current.outcome !== undefined) {
        if (!current.recorded) await this.record(current);
        return;
      }
      if (!current.ended) throw sinkPending(this.name, task.id);
      // ended without an outcome (Redis failed, or the task was not ours for a while): start over
      this.tasks.delete(task.id);
    }
    this.start(task, url);
    throw sinkPending(this.name, task.id);
  }

  release(taskId: string): void {
    const delivery = this.tasks.get(taskId);
    if (!delivery) return;
    this.tasks.delete(taskId);
    delivery.stopped = true;
    delivery.wake();
    if (delivery.ended) return;
    const retired = delivery.work.finally(() => {
      if (this.retired.get(taskId) === retired) this.retired.delete(taskId);
    });
    this.retired.set(taskId, retired);
  }

  /** Stops every delivery; waits (a bounded time) for requests in flight, so their outcome is recorded. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const deliveries = [...this.tasks.values()];
    for (const delivery of deliveries) this.release(delivery.taskId);
    const inFlight = [...this.retired.values()];
    if (inFlight.length === 0) return;
    const timedOut = !(await settleWithin(inFlight, this.options.closeTimeoutMs ?? 5000));
    if (timedOut) {
      for (const delivery of deliveries) delivery.abort.abort();
      this.options.logger.warn({ tasks: inFlight.length, code: 'RELAY_CALLBACK_CLOSE_TIMEOUT' }, 'completion callbacks still in flight at shutdown');
    }
  }

  private start(task: TaskRecord, url: string): void {
    let wakeUp: () => void = () => {};
    const delivery: Delivery = {
      taskId: task.id,
      log: this.options.logger.child({ taskId: task.id, sink: this.name, host: hostOf(url) }),
      stopped: false,
      outcome: undefined,
      lastStatus: undefined,
      recorded: false,
      ended: false,
      work: Promise.resolve(),
      abort: new AbortController(),
      wake: () => wakeUp(),
    };
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        if (delivery.stopped || ms <= 0) {
          resolve();
          return;
        }
        const timer = setTimeout(done, ms);
        function done(): void {
          clearTimeout(timer);
          wakeUp = () => {};
          resolve();
        }
        wakeUp = done;
      });
    const previous = this.retired.get(task.id);
    this.tasks.set(task.id, delivery);
    delivery.work = this.run(delivery, task, url, sleep, previous)
      .catch((err: unknown) => {
        delivery.log.warn({ err: errorMessage(err), code: 'RELAY_CALLBACK_INTERRUPTED' }, 'completion callback interrupted; retrying later');
      })
      .finally(() => {
        delivery.ended = true;
      });
  }

  private async run(delivery: Delivery, task: TaskRecord, url: string, sleep: (ms: number) => Promise<void>, previous: Promise<void> | undefined): Promise<void> {
    await previous;
    const state = await this.load(delivery.taskId);
    if (state.outcome !== undefined) {
      delivery.outcome = state.outcome;
      delivery.recorded = true;
      return;
    }
    const problem = callbackUrlProblem(url, this.options.allowedHosts);
    if (problem) {
      delivery.log.warn({ reason: problem.reason, code: 'RELAY_CALLBACK_NOT_ALLOWED' }, 'completion callback not sent: its URL may not be called');
      await this.conclude(delivery, 'failed', 'not_allowed');
      return;
    }
    const body = JSON.stringify({ event: CALLBACK_EVENT, task } satisfies CallbackPayload);
    await sleep(state.nextAt - this.now());
    for (;;) {
      if (delivery.stopped || !(this.options.owns?.(delivery.taskId) ?? true)) return;
      const attempts = await this.attempting(delivery.taskId);
      const result = await this.send(delivery, url, body);
      if (result.kind === 'stopped') return;
      if (result.kind === 'delivered') {
        delivery.log.info({ attempts, status: result.status }, 'completion callback delivered');
        await this.conclude(delivery, 'delivered', result.status);
        return;
      }
      if (result.kind === 'failed' || attempts >= this.maxAttempts) {
        delivery.log.warn(
          { attempts, status: result.status, code: 'RELAY_CALLBACK_FAILED' },
          result.kind === 'failed' ? 'completion callback refused; not retried' : 'completion callback failed; giving up after the last attempt',
        );
        await this.conclude(delivery, 'failed', result.status);
        return;
      }
      const backoffMs = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.min(attempts - 1, 30));
      const waitMs = result.retryAfterMs !== undefined ? Math.min(this.retryMaxMs, result.retryAfterMs) : backoffMs;
      this.callbacks.inc({ outcome: 'retried' });
      delivery.log.info({ attempts, status: result.status, retryInMs: waitMs }, 'completion callback not delivered; retrying');
      await this.options.redis.hset(this.options.keys.callbackDelivery(delivery.taskId), 'nextAt', String(this.now() + waitMs));
      await sleep(waitMs);
    }
  }

  /** One signed POST; never follows a redirect. */
  private async send(delivery: Delivery, url: string, body: string): Promise<AttemptResult> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.requestTimeoutMs), delivery.abort.signal]);
    try {
      const response = await fetch(url, {
        method: 'POST',
        redirect: 'manual',
        signal,
        headers: {
          'content-type': 'application/json',
          'user-agent': CALLBACK_USER_AGENT,
          'x-agentq-signature': signatureHeader(this.options.secret, this.now() / 1000, body),
          'x-agentq-delivery': delivery.taskId,
        },
        body,
      });
      await response.body?.cancel().catch(() => {});
      const status = String(response.status);
      if (response.status >= 200 && response.status < 300) return { kind: 'delivered', status };
      if (retryable(response.status)) return { kind: 'retry', status, retryAfterMs: retryAfterMs(response.headers.get('retry-after'), this.now()) };
      return { kind: 'failed', status };
    } catch (err) {
      if (delivery.abort.signal.aborted) return { kind: 'stopped' };
      const timedOut = err instanceof Error && err.name === 'TimeoutError';
      delivery.log.debug({ err: errorMessage(err) }, 'completion callback request failed');
      return { kind: 'retry', status: timedOut ? 'timeout' : 'network_error' };
    }
  }

  private async load(taskId: string): Promise<DeliveryState> {
    const hash = await this.options.redis.hgetall(this.options.keys.callbackDelivery(taskId));
    const outcome = hash.outcome === 'delivered' || hash.outcome === 'failed' ? hash.outcome : undefined;
    return { nextAt: Number(hash.nextAt ?? 0) || 0, outcome };
  }

  /** Counts an attempt before it is made (a relay that dies during it continues the count). */
  private async attempting(taskId: string): Promise<number> {
    const key = this.options.keys.callbackDelivery(taskId);
    const replies = await this.options.redis.multi().hincrby(key, 'attempts', 1).expire(key, this.options.deliveryTtlSec).exec();
    const [error, attempts] = replies?.[0] ?? [new Error('transaction aborted'), 0];
    if (error) throw error;
    return Number(attempts);
  }

  private async conclude(delivery: Delivery, outcome: CallbackOutcome, status: string): Promise<void> {
    delivery.outcome = outcome;
    delivery.lastStatus = status;
    this.callbacks.inc({ outcome });
    await this.record(delivery);
  }

  private async record(delivery: Delivery): Promise<void> {
    const key = this.options.keys.callbackDelivery(delivery.taskId);
    const fields = { outcome: delivery.outcome ?? 'failed', status: delivery.lastStatus ?? '', at: String(this.now()) };
    const replies = await this.options.redis.multi().hset(key, fields).expire(key, this.options.deliveryTtlSec).exec();
    const error = replies?.find(([err]) => err)?.[0];
    if (error || !replies) throw error ?? new Error('transaction aborted');
    delivery.recorded = true;
  }
}

function hostOf(url: string): string | undefined {
  try {
    return normalizeCallbackHost(new URL(url).hostname);
  } catch {
    return undefined;
  }
}
