import { Backoff, isTaskId, type Logger, type RedisKeys, type RetryPolicy } from '@agentq/shared';
import type { Redis } from 'ioredis';
import { Periodic } from '../periodic.js';
import type { RelayErrorCode } from '../relay-errors.js';
import type { RelayMetrics } from '../relay-metrics.js';
import type { BlockingConnection } from '../redis/blocking-connection.js';
import { RELAY_GROUP, ensureGroup } from '../redis/consumer-group.js';
import { fieldValue, parseAutoclaimReply, parseReadReply, redisErrorCode, type StreamEntry } from '../redis/stream-reply.js';
import { Wakeup } from '../wakeup.js';
import { HAND_OVER_TASK, REFRESH_CLAIMS } from './claim-scripts.js';

export interface TaskClaimsOptions {
  /** Connection for ordinary commands. */
  redis: Redis;
  /** Connection reserved for the blocking read of the task list. */
  blocking: BlockingConnection;
  keys: RedisKeys;
  consumer: string;
  claimIdleMs: number;
  logger: Logger;
  metrics: RelayMetrics;
  /** Called when tasks were claimed or lost. */
  onChange: () => void;
}

interface Claim {
  /** Entries of the task list held by this relay for the task (normally one). */
  entryIds: Set<string>;
  /** Until when this relay may write for the task without having refreshed its claim. */
  validUntil: number;
}

const READ_COUNT = 100;
const DISCOVERY_BLOCK_MS = 2000;
const AUTOCLAIM_COUNT = 100;
const AUTOCLAIM_MAX_PAGES = 10;
const SCRIPT_CHUNK = 500;
/** A failed read of the task list. */
const DISCOVERY_RETRY: RetryPolicy = { initialMs: 200, maxMs: 5000 };

/**
 * Which tasks this relay owns. The ingress adds one entry per task to the task list; the relay
 * reads it through the consumer group `relay`, and holding an entry (in its pending list) is owning
 * the task. Owned entries are refreshed every third of the claim idle time; entries of a relay
 * silent for longer than the claim idle time are taken over with XAUTOCLAIM. A relay writes for a
 * task only while its claim is fresh (refreshed within two thirds of the idle time), so by the time
 * another relay may take a task over, the previous owner has stopped writing for it.
 */
export class TaskClaims {
  private readonly claims = new Map<string, Claim>();
  private readonly key: string;
  private readonly leaseMs: number;
  private readonly keepalive: Periodic;
  private readonly autoclaim: Periodic;
  private readonly pause = new Wakeup();
  private discovery: Promise<void> | undefined;
  private stopping = false;
  private needsSetup = true;

  constructor(private readonly options: TaskClaimsOptions) {
    this.key = options.keys.relayTasks;
    this.leaseMs = Math.floor((options.claimIdleMs * 2) / 3);
    const onError = (what: string) => (err: unknown) => {
      if (redisErrorCode(err) === 'NOGROUP') this.needsSetup = true;
      options.logger.warn({ err, code: 'RELAY_CLAIMS_FAILED' satisfies RelayErrorCode, what }, 'task claims maintenance failed');
    };
    this.keepalive = new Periodic(Math.max(100, Math.floor(options.claimIdleMs / 3)), () => this.refresh(), onError('refresh'));
    this.autoclaim = new Periodic(Math.max(250, Math.floor(options.claimIdleMs / 2)), () => this.takeOverIdle(), onError('autoclaim'));
  }

  start(): void {
    this.discovery = this.discover();
    this.keepalive.start();
    this.autoclaim.start();
  }

  taskIds(): string[] {
    return [...this.claims.keys()];
  }

  get size(): number {
    return this.claims.size;
  }

  /** True while this relay owns the task and its claim is fresh enough to write for it. */
  isFresh(taskId: string): boolean {
    const claim = this.claims.get(taskId);
    return claim !== undefined && claim.validUntil > Date.now();
  }

  /** The task is done: its entries are acknowledged (and deleted) and it is no longer owned. */
  async complete(taskId: string): Promise<void> {
    const claim = this.claims.get(taskId);
    if (!claim) return;
    await this.acknowledge([...claim.entryIds]);
    this.claims.delete(taskId);
  }

  /** Acknowledges and deletes task list entries (acknowledged entries would stay in the stream). */
  private async acknowledge(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const results = await this.options.redis.multi().xack(this.key, RELAY_GROUP, ...ids).xdel(this.key, ...ids).exec();
    const failed = results?.find(([err]) => err);
    if (failed?.[0]) throw failed[0];
  }

  /** Stops reading the task list (claims already held stay held and refreshed). */
  async stopDiscovery(): Promise<void> {
    this.stopping = true;
    this.pause.wake();
    if (this.discovery) await this.options.blocking.stopLoop(this.discovery);
  }

  /** Stops refreshing and taking over claims. */
  async stopMaintenance(): Promise<void> {
    await Promise.all([this.keepalive.stop(), this.autoclaim.stop()]);
  }

  /**
   * Gives every owned task back to the task list (acknowledges this relay's entry and adds a fresh
   * one), so that another relay continues at once instead of after the claim idle time.
   */
  async handOver(): Promise<number> {
    let handed = 0;
    for (const [taskId, claim] of [...this.claims]) {
      try {
        const count = (await this.options.redis.eval(
          HAND_OVER_TASK,
          1,
          this.key,
          RELAY_GROUP,
          this.options.consumer,
          taskId,
          ...claim.entryIds,
        )) as number;
        if (count > 0) handed += 1;
        this.claims.delete(taskId);
      } catch (err) {
        this.options.logger.warn({ err, taskId, code: 'RELAY_HANDOVER_FAILED' satisfies RelayErrorCode }, 'task hand-over failed; another relay takes it over after the claim idle time');
      }
    }
    return handed;
  }

  private async discover(): Promise<void> {
    const { blocking, consumer, logger } = this.options;
    const failures = new Backoff(DISCOVERY_RETRY);
    while (!this.stopping) {
      try {
        if (this.needsSetup) await this.setup();
        const epoch = blocking.epoch;
        const sentAt = Date.now();
        const reply = await blocking.call('XREADGROUP', [
          'GROUP', RELAY_GROUP, consumer, 'COUNT', READ_COUNT, 'BLOCK', DISCOVERY_BLOCK_MS, 'STREAMS', this.key, '>',
        ]);
        // a reconnection may have lost a reply whose entries are now pending for this consumer
        if (blocking.epoch !== epoch) this.needsSetup = true;
        await this.register(parseReadReply(reply).get(this.key) ?? [], sentAt + this.leaseMs, 'new');
        failures.reset();
      } catch (err) {
        if (this.stopping) break;
        this.needsSetup = true;
        const retryInMs = failures.fail();
        logger.warn({ err, code: 'RELAY_DISCOVERY_FAILED' satisfies RelayErrorCode, retryInMs }, 'reading the task list failed');
        await this.pause.wait(retryInMs);
      }
    }
  }

  /** Creates the group if needed and re-reads this consumer's own pending entries. */
  private async setup(): Promise<void> {
    const { redis, consumer } = this.options;
    await ensureGroup(redis, this.key, RELAY_GROUP, { mkstream: true });
    let cursor = '0';
    let found = 0;
    for (;;) {
      const reply = await redis.call('XREADGROUP', ['GROUP', RELAY_GROUP, consumer, 'COUNT', READ_COUNT, 'STREAMS', this.key, cursor]);
      const entries = parseReadReply(reply).get(this.key) ?? [];
      if (entries.length === 0) break;
      // not fresh until refreshed: these entries may have sat idle long enough to be taken over
      await this.register(entries, 0, 'pending');
      found += entries.length;
      cursor = entries[entries.length - 1]?.id ?? cursor;
    }
    this.needsSetup = false;
    if (found > 0) await this.refresh();
  }

  private async register(entries: StreamEntry[], validUntil: number, how: 'new' | 'pending' | 'takeover'): Promise<void> {
    if (entries.length === 0) return;
    const { logger, metrics } = this.options;
    const malformed: string[] = [];
    let changed = false;
    for (const entry of entries) {
      const taskId = fieldValue(entry.fields, 'taskId');
      if (taskId === undefined || !isTaskId(taskId)) {
        malformed.push(entry.id);
        continue;
      }
      let claim = this.claims.get(taskId);
      if (!claim) {
        claim = { entryIds: new Set(), validUntil: 0 };
        this.claims.set(taskId, claim);
        changed = true;
        if (how === 'takeover') {
          metrics.tasksTakenOver.inc();
          logger.info({ taskId, entryId: entry.id }, 'task taken over from a silent relay');
        } else {
          logger.info({ taskId, entryId: entry.id, how }, 'task claimed');
        }
      }
      claim.entryIds.add(entry.id);
      claim.validUntil = Math.max(claim.validUntil, validUntil);
    }
    if (malformed.length > 0) {
      metrics.malformedEntries.inc({ stream: 'tasks' }, malformed.length);
      logger.warn({ entryIds: malformed, code: 'RELAY_TASK_ENTRY_MALFORMED' satisfies RelayErrorCode }, 'task list entry without a valid task id; acknowledged');
      await this.acknowledge(malformed);
    }
    if (changed) this.options.onChange();
  }

  /** Resets the idle time of the entries this relay still owns; forgets the ones it lost. */
  private async refresh(): Promise<void> {
    const snapshot = new Map<string, string[]>();
    for (const [taskId, claim] of this.claims) snapshot.set(taskId, [...claim.entryIds]);
    const ids = [...snapshot.values()].flat();
    if (ids.length === 0) return;
    const sentAt = Date.now();
    const alive = new Set<string>();
    for (let i = 0; i < ids.length; i += SCRIPT_CHUNK) {
      const chunk = ids.slice(i, i + SCRIPT_CHUNK);
      const kept = (await this.options.redis.eval(REFRESH_CLAIMS, 1, this.key, RELAY_GROUP, this.options.consumer, ...chunk)) as string[];
      for (const id of kept) alive.add(id);
    }
    const lost: string[] = [];
    for (const [taskId, entryIds] of snapshot) {
      const claim = this.claims.get(taskId);
      if (!claim) continue;
      for (const id of entryIds) if (!alive.has(id)) claim.entryIds.delete(id);
      if (claim.entryIds.size === 0) {
        this.claims.delete(taskId);
        lost.push(taskId);
      } else if (entryIds.some((id) => alive.has(id))) {
        claim.validUntil = Math.max(claim.validUntil, sentAt + this.leaseMs);
      }
    }
    if (lost.length > 0) {
      this.options.logger.warn({ taskIds: lost, code: 'RELAY_CLAIM_LOST' satisfies RelayErrorCode }, 'tasks no longer owned by this relay; stopped following them');
      this.options.onChange();
    }
  }

  /** Takes over the entries of relays that have been silent longer than the claim idle time. */
  private async takeOverIdle(): Promise<void> {
    if (this.needsSetup) return;
    const { redis, consumer, claimIdleMs } = this.options;
    let cursor = '0-0';
    for (let page = 0; page < AUTOCLAIM_MAX_PAGES; page++) {
      const sentAt = Date.now();
      const reply = await redis.call('XAUTOCLAIM', [this.key, RELAY_GROUP, consumer, claimIdleMs, cursor, 'COUNT', AUTOCLAIM_COUNT]);
      const { next, entries } = parseAutoclaimReply(reply);
      await this.register(entries, sentAt + this.leaseMs, 'takeover');
      if (next === '0-0') break;
      cursor = next;
    }
  }
}
