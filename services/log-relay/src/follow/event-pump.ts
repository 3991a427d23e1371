import { Backoff, isFinalState, type AgentEvent, type Logger, type RedisKeys, type RetryPolicy, type TaskState, type TaskStore } from '@agentq/shared';
import type { Redis } from 'ioredis';
import type { TaskClaims } from '../claims/task-claims.js';
import type { RelayMetrics } from '../relay-metrics.js';
import type { BlockingConnection } from '../redis/blocking-connection.js';
import { RELAY_GROUP, ensureGroup } from '../redis/consumer-group.js';
import { parseRangeReply, parseReadReply, redisErrorCode, type StreamEntry } from '../redis/stream-reply.js';
import { ClaimStaleError, SinkPendingError, type RelayErrorCode } from '../relay-errors.js';
import type { Delivery, Sink } from '../sinks/sink.js';
import { Wakeup } from '../wakeup.js';
import { decodeEvent } from './decode-event.js';

/**
 * Consumer name in every per-task group. A task has one owner at a time, so one fixed name lets
 * whoever owns the task now read what a previous owner had read but not acknowledged.
 */
export const TASK_CONSUMER = 'relay';

export interface EventPumpOptions {
  redis: Redis;
  /** Connection reserved for the blocking read of the event streams. */
  blocking: BlockingConnection;
  keys: RedisKeys;
  store: TaskStore;
  claims: TaskClaims;
  sinks: Sink[];
  eventsTtlSec: number;
  logger: Logger;
  metrics: RelayMetrics;
  /** Entries read per stream per call. */
  batchSize?: number;
  /** Longest blocking read. */
  blockMs?: number;
}

interface FollowedTask {
  taskId: string;
  key: string;
  /**
   * `adopt`: (re)start from the group's pending entries; `follow`: read new entries; `finish`: all
   * events delivered, waiting for the sinks to finish.
   */
  mode: 'adopt' | 'follow' | 'finish';
  retryAt: number;
  /** Failed attempts at the task's work (delivering, adopting, finishing). */
  failures: Backoff;
  /** Polls of sinks still delivering in the background (`SinkPendingError`). */
  pendingPolls: Backoff;
  /** Sinks whose `finish` resolved. */
  finishedSinks: Set<string>;
  deliveredSeq: number;
  log: Logger;
}

/** A failed read of the event streams. */
const READ_RETRY: RetryPolicy = { initialMs: 200, maxMs: 5000 };
/** A task whose work failed (a sink, Redis). */
const TASK_RETRY: RetryPolicy = { initialMs: 400, maxMs: 10_000 };
/** A finished task whose sinks are still delivering in the background. */
const PENDING_RETRY: RetryPolicy = { initialMs: 100, maxMs: 1000 };
const STALE_RETRY_MS = 100;
const LAG_SAMPLE = 1000;

/**
 * Moves the events of the owned tasks to the sinks. One loop: it adopts newly owned tasks (their
 * group's pending entries first), then waits on one blocking XREADGROUP over the streams of all
 * followed tasks; every batch is delivered to every sink, then acknowledged. The final
 * `task.state` event completes the task: final record to the sinks, TTL on the stream, task list
 * entry acknowledged.
 */
export class EventPump {
  private readonly tasks = new Map<string, FollowedTask>();
  private readonly wakeup = new Wakeup();
  private readonly batchSize: number;
  private readonly blockMs: number;
  private loop: Promise<void> | undefined;
  private stopping = false;

  constructor(private readonly options: EventPumpOptions) {
    this.batchSize = options.batchSize ?? 200;
    this.blockMs = options.blockMs ?? 1000;
  }

  start(): void {
    this.loop = this.run();
  }

  /** Owned tasks changed: look again now. */
  wake(): void {
    this.wakeup.wake();
    void this.options.blocking.unblock();
  }

  /** Stops reading; a batch already read is delivered and acknowledged first. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeup.wake();
    if (this.loop) await this.options.blocking.stopLoop(this.loop);
  }

  get followedCount(): number {
    return this.tasks.size;
  }

  /** Events in Redis not yet delivered, summed over the followed tasks (a sample when there are many). */
  async lag(): Promise<number> {
    const tasks = [...this.tasks.values()].slice(0, LAG_SAMPLE);
    if (tasks.length === 0) return 0;
    const pipeline = this.options.redis.pipeline();
    for (const task of tasks) pipeline.hget(this.options.keys.task(task.taskId), 'lastSeq');
    const results = (await pipeline.exec()) ?? [];
    let lag = 0;
    results.forEach(([err, value], i) => {
      const task = tasks[i];
      if (err || !task || typeof value !== 'string') return;
      lag += Math.max(0, Number(value) - task.deliveredSeq);
    });
    return lag;
  }

  private async run(): Promise<void> {
    const { blocking, logger } = this.options;
    const readFailures = new Backoff(READ_RETRY);
    while (!this.stopping) {
      this.wakeup.take();
      this.sync();
      await this.adoptDue();
      if (this.stopping) break;
      const following = [...this.tasks.values()].filter((t) => t.mode === 'follow');
      const waitMs = this.nextWaitMs();
      if (following.length === 0) {
        await this.wakeup.wait(waitMs);
        continue;
      }
      if (this.wakeup.take()) continue;
      const keys = following.map((t) => t.key);
      const epoch = blocking.epoch;
      let reply: unknown;
      try {
        reply = await blocking.call('XREADGROUP', [
          'GROUP', RELAY_GROUP, TASK_CONSUMER, 'COUNT', this.batchSize, 'BLOCK', Math.max(1, waitMs),
          'STREAMS', ...keys, ...keys.map(() => '>'),
        ]);
        readFailures.reset();
      } catch (err) {
        if (this.stopping) break;
        // a stream without its group (Redis lost its data) is set up again at once
        const noGroup = redisErrorCode(err) === 'NOGROUP';
        if (noGroup) readFailures.reset();
        const retryInMs = noGroup ? 0 : readFailures.fail();
        logger.warn({ err, code: 'RELAY_READ_FAILED' satisfies RelayErrorCode, retryInMs }, 'reading event streams failed');
        // entries may have been handed out without reaching us: start over from the pending ones
        for (const task of following) this.readopt(task, Date.now() + retryInMs);
        if (retryInMs > 0) await this.wakeup.wait(retryInMs);
        continue;
      }
      const byKey = parseReadReply(reply);
      await Promise.all(
        following.map(async (task) => {
          const entries = byKey.get(task.key);
          if (entries && entries.length > 0) await this.guard(task, async () => void (await this.deliverEntries(task, entries)));
        }),
      );
      if (blocking.epoch !== epoch) {
        for (const task of following) if (this.tasks.has(task.taskId)) this.readopt(task, 0);
      }
    }
  }

  private nextWaitMs(): number {
    let wait = this.blockMs;
    const now = Date.now();
    for (const task of this.tasks.values()) {
      if (task.mode !== 'follow') wait = Math.min(wait, Math.max(0, task.retryAt - now));
    }
    return wait;
  }

  /** Starts following tasks newly owned; stops following tasks no longer owned. */
  private sync(): void {
    const owned = new Set(this.options.claims.taskIds());
    for (const taskId of owned) {
      if (this.tasks.has(taskId)) continue;
      this.tasks.set(taskId, {
        taskId,
        key: this.options.keys.events(taskId),
        mode: 'adopt',
        retryAt: 0,
        failures: new Backoff(TASK_RETRY),
        pendingPolls: new Backoff(PENDING_RETRY),
        finishedSinks: new Set(),
        deliveredSeq: 0,
        log: this.options.logger.child({ taskId }),
      });
    }
    for (const task of [...this.tasks.values()]) {
      if (!owned.has(task.taskId)) this.drop(task);
    }
  }

  private drop(task: FollowedTask): void {
    this.tasks.delete(task.taskId);
    for (const sink of this.options.sinks) sink.release?.(task.taskId);
  }

  /** Starts the task over from its pending entries at `at`; a finishing task only retries finishing. */
  private readopt(task: FollowedTask, at: number): void {
    if (task.mode !== 'finish') task.mode = 'adopt';
    task.retryAt = at;
  }

  private async adoptDue(): Promise<void> {
    const now = Date.now();
    for (const task of [...this.tasks.values()]) {
      if (this.stopping) return;
      if (task.mode === 'follow' || task.retryAt > now) continue;
      await this.guard(task, () => (task.mode === 'finish' ? this.finish(task) : this.adopt(task)));
    }
  }

  /** Runs work for one task; on failure the task starts over from its pending entries later. */
  private async guard(task: FollowedTask, work: () => Promise<void>): Promise<void> {
    try {
      await work();
      task.failures.reset();
    } catch (err) {
      if (!this.tasks.has(task.taskId)) return;
      if (err instanceof ClaimStaleError) {
        this.readopt(task, Date.now() + STALE_RETRY_MS);
        task.log.debug('claim not fresh; waiting for its refresh');
        return;
      }
      if (err instanceof SinkPendingError) {
        this.readopt(task, Date.now() + task.pendingPolls.fail());
        task.log.debug({ details: err.details }, 'sink still delivering; task not acknowledged yet');
        return;
      }
      const retryInMs = task.failures.fail();
      const failures = task.failures.failures;
      this.readopt(task, Date.now() + retryInMs);
      // a long outage fails every retry: say so on the first failure and then every tenth
      const level = failures === 1 || failures % 10 === 0 ? 'warn' : 'debug';
      task.log[level]({ err, code: 'RELAY_DELIVERY_FAILED' satisfies RelayErrorCode, retryInMs, failures }, 'relaying task events failed; retrying');
    }
  }

  private requireFresh(task: FollowedTask): void {
    if (!this.options.claims.isFresh(task.taskId)) throw new ClaimStaleError(task.taskId);
  }

  /**
   * Starts (or restarts) following a task: a finished task is replayed whole and completed; a
   * running one gets its group, and the entries read but not acknowledged before are delivered.
   */
  private async adopt(task: FollowedTask): Promise<void> {
    const { redis, store, claims } = this.options;
    this.requireFresh(task);
    for (const sink of this.options.sinks) sink.release?.(task.taskId);
    task.finishedSinks.clear();
    for (const sink of this.options.sinks) await sink.open?.(task.taskId);
    const record = await store.get(task.taskId);
    if (!record) {
      task.log.warn({ code: 'RELAY_TASK_UNKNOWN' satisfies RelayErrorCode }, 'task in the task list has no record; acknowledged');
      await claims.complete(task.taskId);
      this.drop(task);
      return;
    }
    if (isFinalState(record.state)) {
      await this.replay(task);
      await this.finish(task);
      return;
    }
    if ((await redis.exists(task.key)) === 0) {
      task.log.warn({ code: 'RELAY_STREAM_MISSING' satisfies RelayErrorCode, state: record.state }, 'running task has no event stream; acknowledged');
      await claims.complete(task.taskId);
      this.drop(task);
      return;
    }
    await ensureGroup(redis, task.key, RELAY_GROUP, { mkstream: false });
    let cursor = '0';
    for (;;) {
      const reply = await redis.call('XREADGROUP', ['GROUP', RELAY_GROUP, TASK_CONSUMER, 'COUNT', this.batchSize, 'STREAMS', task.key, cursor]);
      const entries = parseReadReply(reply).get(task.key) ?? [];
      if (entries.length === 0) break;
      const finished = await this.deliverEntries(task, entries);
      if (finished) return;
      cursor = entries[entries.length - 1]?.id ?? cursor;
    }
    task.mode = 'follow';
    task.log.debug({ deliveredSeq: task.deliveredSeq }, 'following task events');
  }

  /** Delivers a finished task's whole stream (sinks skip what they have). */
  private async replay(task: FollowedTask): Promise<void> {
    let start = '-';
    for (;;) {
      const reply = await this.options.redis.xrange(task.key, start, '+', 'COUNT', this.batchSize);
      const entries = parseRangeReply(reply);
      if (entries.length === 0) return;
      await this.deliver(task, this.decode(task, entries).events, { ended: true });
      start = `(${entries[entries.length - 1]?.id ?? '0-0'}`;
    }
  }

  private decode(task: FollowedTask, entries: StreamEntry[]): { events: AgentEvent[]; malformed: string[] } {
    const events: AgentEvent[] = [];
    const malformed: string[] = [];
    for (const entry of entries) {
      const event = decodeEvent(entry, task.taskId);
      if (event) events.push(event);
      else malformed.push(entry.id);
    }
    if (malformed.length > 0) {
      this.options.metrics.malformedEntries.inc({ stream: 'events' }, malformed.length);
      task.log.warn({ entryIds: malformed, code: 'RELAY_EVENT_MALFORMED' satisfies RelayErrorCode }, 'event stream entry could not be read; skipped');
    }
    return { events, malformed };
  }

  private async deliver(task: FollowedTask, events: AgentEvent[], delivery: Delivery = {}): Promise<void> {
    if (events.length === 0) return;
    this.requireFresh(task);
    for (const sink of this.options.sinks) await sink.deliver(task.taskId, events, delivery);
    this.options.metrics.eventsRelayed.inc(events.length);
    const last = events[events.length - 1];
    if (last) task.deliveredSeq = Math.max(task.deliveredSeq, last.seq);
  }

  /** Delivers entries read through the group and acknowledges them. Returns true when the task finished. */
  private async deliverEntries(task: FollowedTask, entries: StreamEntry[]): Promise<boolean> {
    const { events } = this.decode(task, entries);
    await this.deliver(task, events);
    this.requireFresh(task);
    await this.options.redis.xack(task.key, RELAY_GROUP, ...entries.map((e) => e.id));
    const final = events.some((e) => e.kind === 'task.state' && isFinalState(e.state as TaskState));
    if (!final) return false;
    await this.finish(task);
    return true;
  }

  /**
   * Final record to the sinks, TTL on the stream, task list entry acknowledged. A sink that has not
   * finished yet is asked again later (the task stays in `finish` mode), the others are not.
   */
  private async finish(task: FollowedTask): Promise<void> {
    const { redis, store, claims, sinks, eventsTtlSec, metrics } = this.options;
    task.mode = 'finish';
    this.requireFresh(task);
    const record = await store.get(task.taskId);
    if (record) {
      for (const sink of sinks) {
        if (task.finishedSinks.has(sink.name)) continue;
        await sink.finish(record);
        task.finishedSinks.add(sink.name);
      }
    } else {
      task.log.warn({ code: 'RELAY_TASK_UNKNOWN' satisfies RelayErrorCode }, 'finished task has no record; no final record written');
    }
    await redis.expire(task.key, eventsTtlSec);
    await claims.complete(task.taskId);
    metrics.tasksFinished.inc();
    task.log.info({ state: record?.state, lastSeq: task.deliveredSeq }, 'task transcript complete');
    this.drop(task);
  }
}
