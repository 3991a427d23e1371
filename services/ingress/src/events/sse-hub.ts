import { isFinalState, type AgentEvent, type Logger, type RedisKeys, type TaskStore } from '@agentq/shared';
import type { Redis } from 'ioredis';
import { LiveReader } from './live-reader.js';
import type { SseStream } from './sse-stream.js';
import { isFinalEvent, type TranscriptReader } from './transcript-reader.js';

export interface SseHubOptions {
  store: TaskStore;
  keys: RedisKeys;
  reader: TranscriptReader;
  /** The app's (non-blocking) connection: replays, positions, and waking the live reads. */
  redis: Redis;
  openBlockingRedis: () => Redis;
  /** Blocking connections of the live reads, whatever the number of streams. */
  connections: number;
  blockMs: number;
  logger: Logger;
}

/** A client of a task's feed: `backlog` holds live events while it replays up to the live point. */
interface Subscriber {
  stream: SseStream;
  lastSent: number;
  backlog: AgentEvent[] | undefined;
  maxBacklog: number;
}

/** The clients of one task, and the seq up to which the live read has brought them events. */
interface TaskFeed {
  taskId: string;
  position: number;
  ready: Promise<void>;
  subscribers: Set<Subscriber>;
  /** Clients between `feed()` and joining: the feed waits for them. */
  joining: number;
  lastActivity: number;
  checking: boolean;
}

/**
 * The open SSE streams of the app. The streams of one task share one feed: one position in one
 * shared blocking read (`LiveReader`), whose events are sent to every client that is caught up.
 * A client that joins later (or resumes with `Last-Event-ID`) replays from Redis or the archive
 * with non-blocking reads up to the feed's position, then takes the live events from there.
 * The feed ends after the task's final event, or when its last client leaves.
 */
export class SseHub {
  private readonly streams = new Set<SseStream>();
  private readonly feeds = new Map<string, TaskFeed>();
  private readonly live: LiveReader;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SseHubOptions) {
    this.live = new LiveReader({
      keys: options.keys,
      openBlockingRedis: options.openBlockingRedis,
      control: options.redis,
      connections: options.connections,
      blockMs: options.blockMs,
      logger: options.logger,
      onEvents: (taskId, events) => this.deliver(taskId, events),
    });
  }

  /** Open streams. */
  get size(): number {
    return this.streams.size;
  }

  /** Tasks followed live (one position in the shared blocking reads each). */
  get followed(): number {
    return this.feeds.size;
  }

  /**
   * Sends `stream` the events of `taskId` after `after`: a replay up to the live point, then
   * the live events, until the final event, the client leaving, or `closeAll`.
   */
  async follow(stream: SseStream, taskId: string, after: number, maxBacklog: number): Promise<void> {
    this.streams.add(stream);
    stream.onClose(() => this.streams.delete(stream));
    const feed = this.feed(taskId);
    feed.joining++;
    try {
      await feed.ready;
    } finally {
      feed.joining--;
    }
    if (stream.isClosed) return this.leave(feed);
    const sub: Subscriber = { stream, lastSent: after, backlog: [], maxBacklog };
    feed.subscribers.add(sub);
    stream.onClose(() => {
      feed.subscribers.delete(sub);
      this.leave(feed);
    });

    // replay up to where the live read stood when this client joined; what it reads later is in the backlog
    const target = feed.position;
    while (!stream.isClosed) {
      const batch = await this.options.reader.next(taskId, sub.lastSent);
      for (const event of batch.events) if (!this.send(sub, event)) return;
      await stream.drained();
      // once the stream has left Redis the archive is complete: nothing follows
      if (batch.from === 'archive') return stream.end();
      if (sub.lastSent >= target || batch.events.length === 0) break;
    }
    const backlog = sub.backlog ?? [];
    sub.backlog = undefined;
    for (const event of backlog) if (!this.send(sub, event)) return;
    if (!this.feeds.has(taskId) || this.feeds.get(taskId) !== feed) stream.end();
  }

  /** Ends every stream and stops the live reads (app shutdown). */
  closeAll(): void {
    for (const stream of [...this.streams]) stream.close();
    for (const feed of [...this.feeds.values()]) this.stop(feed);
    this.live.close();
  }

  private feed(taskId: string): TaskFeed {
    const feed = this.feeds.get(taskId);
    if (feed) return feed;
    const created: TaskFeed = { taskId, position: 0, ready: Promise.resolve(), subscribers: new Set(), joining: 0, lastActivity: Date.now(), checking: false };
    created.ready = (async () => {
      // the live read starts at the stream's newest entry; whoever needs older events replays them
      const newest = (await this.options.redis.xrevrange(this.options.keys.events(taskId), '+', '-', 'COUNT', 1)) as [string, string[]][];
      created.position = Number(newest[0]?.[0].split('-')[0] ?? 0);
      if (this.feeds.get(taskId) === created) this.live.follow(taskId, created.position);
    })();
    created.ready.catch(() => this.stop(created));
    this.feeds.set(taskId, created);
    this.startIdleChecks();
    return created;
  }

  /** Sends one event to a client, or holds it while the client still replays. False once the client's stream ended. */
  private send(sub: Subscriber, event: AgentEvent): boolean {
    if (event.seq <= sub.lastSent) return !sub.stream.isClosed;
    if (!sub.stream.send(event)) return false;
    sub.lastSent = event.seq;
    if (isFinalEvent(event)) {
      sub.stream.end();
      return false;
    }
    return true;
  }

  private deliver(taskId: string, events: AgentEvent[]): void {
    const feed = this.feeds.get(taskId);
    if (!feed) return;
    feed.lastActivity = Date.now();
    let final = false;
    for (const event of events) {
      if (event.seq <= feed.position) continue;
      feed.position = event.seq;
      final ||= isFinalEvent(event);
      for (const sub of [...feed.subscribers]) {
        if (!sub.backlog) {
          this.send(sub, event);
        } else if (sub.backlog.length >= sub.maxBacklog) {
          sub.stream.tooSlow = true;
          sub.stream.close();
        } else {
          sub.backlog.push(event);
        }
      }
    }
    if (final) this.stop(feed);
  }

  private leave(feed: TaskFeed): void {
    if (feed.subscribers.size === 0 && feed.joining === 0) this.stop(feed);
  }

  /** Ends the feed: the live read stops; clients still replaying finish their replay and end. */
  private stop(feed: TaskFeed): void {
    if (this.feeds.get(feed.taskId) !== feed) return;
    this.feeds.delete(feed.taskId);
    this.live.unfollow(feed.taskId);
    for (const sub of feed.subscribers) if (!sub.backlog) sub.stream.end();
    if (this.feeds.size === 0) this.stopIdleChecks();
  }

  private startIdleChecks(): void {
    if (this.idleTimer) return;
    this.idleTimer = setInterval(() => void this.checkIdle(), this.options.blockMs);
    this.idleTimer.unref();
  }

  private stopIdleChecks(): void {
    clearInterval(this.idleTimer);
    this.idleTimer = undefined;
  }

  /**
   * A feed quiet for a while may belong to a task that ended without a final event reaching us
   * (its stream expired or was removed): its streams are ended, and a client that reconnects
   * replays from the archive.
   */
  private async checkIdle(): Promise<void> {
    const quietSince = Date.now() - this.options.blockMs;
    for (const feed of [...this.feeds.values()]) {
      if (feed.checking || feed.lastActivity > quietSince) continue;
      feed.checking = true;
      try {
        const record = await this.options.store.get(feed.taskId);
        const ended =
          !record ||
          (isFinalState(record.state) && ((record.lastSeq ?? 0) <= feed.position || !(await this.options.store.eventsExist(feed.taskId))));
        feed.lastActivity = Date.now();
        if (ended) this.stop(feed);
      } catch (err) {
        this.options.logger.debug({ taskId: feed.taskId, err }, 'live stream check failed');
      } finally {
        feed.checking = false;
      }
    }
  }
}
