import type { Redis } from 'ioredis';
import { isTaskId } from '../ids.js';
import { LuaScript } from '../redis/lua-script.js';
import type { RedisKeys } from '../redis/keys.js';

/** A Slack thread: its workspace, its channel and the ts of its first message. */
export interface SlackThread {
  teamId: string;
  channel: string;
  threadTs: string;
}

/**
 * Points the thread at a new task unless another task took it over since it was read (a value
 * that is no task id counts as unset). ARGV: the new task, the task the thread pointed to when
 * read ('' for none).
 */
const MOVE_TO = new LuaScript(`local cur = redis.call('GET', KEYS[1])
local unset = (not cur) or not (#cur == 26 and string.match(cur, '^[0-9a-hjkmnp-tv-z]+$'))
if unset or cur == ARGV[1] or cur == ARGV[2] then redis.call('SET', KEYS[1], ARGV[1]) return 1 end
return 0`);

/**
 * The pointer from a Slack thread to its latest task (`keys.slackThread`), which makes a mention in
 * the thread a follow-up of that task. Two services write it, each with its own rule:
 * - the ingress queues a task in an existing thread (a mention, a follow-up, a retry): `moveTo`
 *   points the thread at it unless another task took the thread over meanwhile;
 * - the log relay posts the status message that starts the thread of a slash command's task:
 *   `startedBy` points the new thread at the task only if nothing points it anywhere yet (a
 *   follow-up in the thread may already have moved it to a newer task).
 * The pointer has no TTL: a thread stays a task's thread.
 */
export class SlackThreads {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  private key(thread: SlackThread): string {
    return this.keys.slackThread(thread.teamId, thread.channel, thread.threadTs);
  }

  /** The latest task of the thread, when the thread belongs to a task. */
  async latestTask(thread: SlackThread): Promise<string | undefined> {
    const id = await this.redis.get(this.key(thread));
    return id !== null && isTaskId(id) ? id : undefined;
  }

  /**
   * The task's status message started the thread: points the thread at the task unless it points
   * somewhere already (SET NX). True when this call set it.
   */
  async startedBy(thread: SlackThread, taskId: string): Promise<boolean> {
    return (await this.redis.set(this.key(thread), taskId, 'NX')) === 'OK';
  }

  /**
   * A task was queued in the thread: points the thread at it, unless another task took the thread
   * over since the pointer was read as `previous` (undefined: it was unset). True when the thread
   * points at `taskId` now.
   */
  async moveTo(thread: SlackThread, taskId: string, previous: string | undefined): Promise<boolean> {
    return (await MOVE_TO.run(this.redis, [this.key(thread)], [taskId, previous ?? ''])) === 1;
  }
}
