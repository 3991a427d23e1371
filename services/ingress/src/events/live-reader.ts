import { decodeStreamEntries, type AgentEvent, type Logger, type RedisKeys } from '@agentq/shared';
import type { Redis } from 'ioredis';

export interface LiveReaderOptions {
  keys: RedisKeys;
  /** Opens one blocking connection; called at most `connections` times while the reader runs. */
  openBlockingRedis: () => Redis;
  /** A non-blocking connection, used to wake a blocked read (`CLIENT UNBLOCK`) when a task is added. */
  control: Redis;
  connections: number;
  blockMs: number;
  logger: Logger;
  /** New events of a followed task, in order, after the position it was followed from. */
  onEvents: (taskId: string, events: AgentEvent[]) => void;
}

const READ_COUNT = 1000;
const RETRY_MS = 1000;

/** One blocking connection and the tasks it follows (task id → seq read up to). */
class Lane {
  readonly tasks = new Map<string, number>();
  private conn: Redis | undefined;
  private clientId: number | undefined;
  /** Bumped at each read, so a wake-up is retried only for the read it was meant for. */
  private reads = 0;
  private blocked = false;
  private wakeIdle: (() => void) | undefined;
  private running = false;
  private closed = false;

  constructor(private readonly options: LiveReaderOptions) {}

  follow(taskId: string, position: number): void {
    this.tasks.set(taskId, position);
    if (!this.running) {
      this.running = true;
      void this.run();
    }
    this.wake();
  }

  unfollow(taskId: string): void {
    this.tasks.delete(taskId);
  }

  close(): void {
    this.closed = true;
    this.wake();
    this.conn?.disconnect();
    this.conn = undefined;
  }

  /** Interrupts the current blocking read so that the next one includes the new task. */
  private wake(): void {
    if (this.wakeIdle) {
      this.wakeIdle();
      this.wakeIdle = undefined;
      return;
    }
    if (!this.blocked || this.clientId === undefined) return;
    const read = this.reads;
    const id = this.clientId;
    const tryUnblock = (attempt: number): void => {
      this.options.control
        .client('UNBLOCK', id)
        .then((done) => {
          // the UNBLOCK may overtake the XREAD it is meant for: try again while that read is pending
          if (done === 0 && this.blocked && this.reads === read && attempt < 20) setTimeout(() => tryUnblock(attempt + 1), 5);
        })
        .catch(() => {});
    };
    tryUnblock(0);
  }

  private async run(): Promise<void> {
    const { keys, blockMs, logger } = this.options;
    while (!this.closed) {
      if (this.tasks.size === 0) {
        await new Promise<void>((resolve) => (this.wakeIdle = resolve));
        continue;
      }
      try {
        const conn = this.connection();
        this.clientId ??= (await conn.client('ID')) as number;
        const ids = [...this.tasks.keys()];
        const streamKeys = ids.map((id) => keys.events(id));
        const positions = ids.map((id) => `${this.tasks.get(id) ?? 0}-0`);
        this.reads++;
        this.blocked = true;
        let result: [string, [string, string[]][]][] | null;
        try {
          result = (await conn.xread('COUNT', READ_COUNT, 'BLOCK', blockMs, 'STREAMS', ...streamKeys, ...positions)) as typeof result;
        } finally {
          this.blocked = false;
        }
        for (const [key, entries] of result ?? []) {
          const taskId = ids[streamKeys.indexOf(key)];
          const events = decodeStreamEntries(entries);
          const last = events[events.length - 1];
          if (!last || taskId === undefined || !this.tasks.has(taskId)) continue;
          this.tasks.set(taskId, last.seq);
          this.options.onEvents(taskId, events);
        }
      } catch (err) {
        if (this.closed) return;
        logger.warn({ err }, 'live event read failed');
        this.clientId = undefined;
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());
      }
    }
  }

  private connection(): Redis {
    if (!this.conn) {
      const conn = this.options.openBlockingRedis();
      conn.on('error', (err) => this.options.logger.debug({ err }, 'live event connection error'));
      // a new connection has a new client id
      conn.on('close', () => (this.clientId = undefined));
      this.conn = conn;
    }
    return this.conn;
  }
}

/**
 * Follows the event streams of the tasks being watched live with a fixed number of blocking
 * connections: each one reads all of its tasks' streams with one `XREAD BLOCK`, so the Redis
 * connections of live streams do not grow with the number of clients or tasks.
 */
export class LiveReader {
  private readonly lanes: Lane[];
  private readonly laneOf = new Map<string, Lane>();

  constructor(options: LiveReaderOptions) {
    this.lanes = Array.from({ length: options.connections }, () => new Lane(options));
  }

  get followed(): number {
    return this.laneOf.size;
  }

  /** Starts following `taskId` after `position` (its seq): the least busy connection takes it. */
  follow(taskId: string, position: number): void {
    if (this.laneOf.has(taskId)) return;
    const lane = this.lanes.reduce((a, b) => (b.tasks.size < a.tasks.size ? b : a));
    this.laneOf.set(taskId, lane);
    lane.follow(taskId, position);
  }

  unfollow(taskId: string): void {
    this.laneOf.get(taskId)?.unfollow(taskId);
    this.laneOf.delete(taskId);
  }

  close(): void {
    for (const lane of this.lanes) lane.close();
    this.laneOf.clear();
  }
}
