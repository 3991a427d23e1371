import { SlackThreads, settleWithin, type AgentEvent, type Logger, type RedisKeys, type SlackTokenResolver, type TaskRecord, type TaskStore } from '@agentq/shared';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { Periodic } from '../../periodic.js';
import type { RelayErrorCode } from '../../relay-errors.js';
import { sinkPending, type Sink } from '../sink.js';
import { DeliveryStore } from './delivery-state.js';
import { SlackClients } from './slack-clients.js';
import { SlackMetrics } from './slack-metrics.js';
import { TaskDelivery } from './task-delivery.js';

export interface SlackSinkOptions {
  redis: Redis;
  keys: RedisKeys;
  store: TaskStore;
  logger: Logger;
  registry: Registry;
  /** The bot token of a task's workspace. */
  resolveToken: SlackTokenResolver;
  /** Web API base URL (`SLACK_API_URL`). */
  apiUrl: string;
  /** Least time between two updates of a status message. */
  statusIntervalMs: number;
  /** The viewer link of a task. */
  viewerUrl(taskId: string): string;
  /** How long the delivery state of a finished task is kept (the events' TTL). */
  deliveryTtlSec: number;
  /** True while this relay may write for the task (default: always). */
  owns?(taskId: string): boolean;
  /** Places of the jobs waiting in the tasks queue, by task id (1 = next); none when unset. */
  queuePositions?(): Promise<Map<string, number>>;
  /** How often queued tasks' positions are refreshed (default 3 s). */
  queuePollMs?: number;
  /** A running task's status message is refreshed this often when nothing else changes it, to keep its elapsed time current (default 30 s). */
  elapsedRefreshMs?: number;
  /** First retry delay after a failed Slack call, doubling up to `retryMaxMs` (defaults 1 s, 30 s). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** How many 429s in a row one call waits out before it counts as failed (default 10). */
  rateLimitRetries?: number;
  /** How long `close` waits for calls in flight (default 5 s). */
  closeTimeoutMs?: number;
}

/**
 * Posts each Slack task's progress to its Slack thread: one status message updated in place,
 * milestone replies, and a final summary. Tasks without a Slack context are ignored. Delivery runs
 * in the background, one task independent of the others: `deliver` only records progress, so a
 * slow or failing Slack never holds up the relay or the other sinks; `finish` resolves once the
 * summary is posted (or Slack refused the task for good), and until then says the sink is pending.
 */
export class SlackSink implements Sink {
  readonly name = 'slack';
  private readonly tasks = new Map<string, TaskDelivery>();
  /** Tasks without a Slack context. */
  private readonly ignored = new Set<string>();
  /** Work of released deliveries still in flight, which a new delivery of the task waits for. */
  private readonly retired = new Map<string, Promise<void>>();
  private readonly deliveries: DeliveryStore;
  private readonly threads: SlackThreads;
  private readonly clients: SlackClients;
  private readonly metrics: SlackMetrics;
  private readonly queuePoll: Periodic;
  private closed = false;

  constructor(private readonly options: SlackSinkOptions) {
    this.deliveries = new DeliveryStore(options.redis, options.keys);
    this.threads = new SlackThreads(options.redis, options.keys);
    this.metrics = new SlackMetrics(options.registry);
    this.clients = new SlackClients({
      apiUrl: options.apiUrl,
      logger: options.logger,
      metrics: this.metrics,
      rateLimitRetries: options.rateLimitRetries,
    });
    this.queuePoll = new Periodic(options.queuePollMs ?? 3000, () => this.refreshWaiting(), (err) =>
      options.logger.debug({ err }, 'queue positions not refreshed'),
    );
    this.queuePoll.start();
  }

  async open(taskId: string): Promise<void> {
    if (this.closed) return;
    this.release(taskId);
    const { store } = this.options;
    const task = await store.get(taskId);
    if (!task) return;
    if (!task.slack) {
      this.ignored.add(taskId);
      return;
    }
    const state = await this.deliveries.load(taskId);
    const delivery = new TaskDelivery(
      {
        ...this.options,
        threads: this.threads,
        deliveries: this.deliveries,
        clients: this.clients,
        metrics: this.metrics,
        statusIntervalMs: this.options.statusIntervalMs,
        retryBaseMs: this.options.retryBaseMs ?? 1000,
        retryMaxMs: this.options.retryMaxMs ?? 30_000,
        owns: (id) => this.options.owns?.(id) ?? true,
        viewerUrl: (id) => this.options.viewerUrl(id),
      },
      task,
      task.slack,
      state,
      this.retired.get(taskId),
    );
    // what happened before this relay followed the task
    for (let after = 0; ; ) {
      const events = await store.readEvents(taskId, after, 1000);
      if (events.length === 0) break;
      delivery.apply(events);
      after = events[events.length - 1]?.seq ?? after;
    }
    delivery.settle();
    delivery.setWaiting(task.waiting);
    if (delivery.progress.state === 'queued' && this.options.queuePositions) {
      try {
        delivery.setQueuePosition((await this.options.queuePositions()).get(taskId));
      } catch (err) {
        this.options.logger.debug({ err, taskId }, 'queue position unknown');
      }
    }
    this.tasks.set(taskId, delivery);
    delivery.kick();
  }

  async deliver(taskId: string, events: AgentEvent[]): Promise<void> {
    if (this.closed || this.ignored.has(taskId)) return;
    let delivery = this.tasks.get(taskId);
    if (!delivery) {
      await this.open(taskId);
      delivery = this.tasks.get(taskId);
      if (!delivery) return;
    }
    if (delivery.apply(events)) delivery.kick();
  }

  async finish(task: TaskRecord): Promise<void> {
    if (!task.slack || this.ignored.has(task.id)) return;
    // closing: the next owner of the task delivers the rest
    if (this.closed) throw sinkPending(this.name, task.id);
    let delivery = this.tasks.get(task.id);
    if (!delivery) {
      await this.open(task.id);
      delivery = this.tasks.get(task.id);
      if (!delivery) return;
    }
    if (delivery.done) return;
    delivery.kick();
    throw sinkPending(this.name, task.id);
  }

  release(taskId: string): void {
    this.ignored.delete(taskId);
    const delivery = this.tasks.get(taskId);
    if (!delivery) return;
    this.tasks.delete(taskId);
    delivery.release();
    const idle = delivery.idle();
    const retired = idle.finally(() => {
      if (this.retired.get(taskId) === retired) this.retired.delete(taskId);
    });
    this.retired.set(taskId, retired);
  }

  /** Stops all deliveries; waits (a bounded time) for calls in flight, so their results are recorded. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queuePoll.stop();
    for (const taskId of [...this.tasks.keys()]) this.release(taskId);
    const inFlight = [...this.retired.values()];
    if (inFlight.length === 0) return;
    const timedOut = !(await settleWithin(inFlight, this.options.closeTimeoutMs ?? 5000));
    if (timedOut) this.options.logger.warn({ tasks: inFlight.length, code: 'RELAY_SLACK_CLOSE_TIMEOUT' satisfies RelayErrorCode }, 'slack calls still in flight at shutdown');
  }

  /**
   * Refreshes what time alone changes: why queued tasks wait and where they stand (their records'
   * `waiting`, and their places in the queue), and the elapsed time of running tasks whose status
   * message has not been updated for a while.
   */
  private async refreshWaiting(): Promise<void> {
    const refreshMs = this.options.elapsedRefreshMs ?? 30_000;
    for (const delivery of this.tasks.values()) {
      if (delivery.refreshIfOlder(refreshMs)) delivery.kick();
    }
    const queued = [...this.tasks.values()].filter((d) => d.progress.state === 'queued' && !d.done);
    if (queued.length === 0) return;
    const { store, queuePositions } = this.options;
    const [records, positions] = await Promise.all([
      Promise.all(queued.map((d) => store.get(d.taskId))),
      queuePositions?.().catch((err: unknown) => {
        this.options.logger.debug({ err }, 'queue positions not refreshed');
        return undefined;
      }),
    ]);
    queued.forEach((delivery, i) => {
      const record = records[i];
      const waitingChanged = record !== undefined && delivery.setWaiting(record.waiting);
      const positionChanged = positions !== undefined && delivery.setQueuePosition(positions.get(delivery.taskId));
      if (waitingChanged || positionChanged) delivery.kick();
    });
  }
}
