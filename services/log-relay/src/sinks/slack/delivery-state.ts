import type { RedisKeys } from '@agentq/shared';
import type { Redis } from 'ioredis';
import type { MessageKind } from './task-progress.js';

/**
 * The Slack delivery state of a task, kept in Redis (`keys.slackDelivery(taskId)`, a hash) so that
 * whoever relays the task next (after a restart or a takeover) posts nothing twice:
 * - `ts:<kind>`: the message was posted (its ts), or `skipped` when Slack refused it for good;
 * - `posting:<kind>`: a post was attempted at that time (ms); without `ts:<kind>` it may have
 *   landed, so the thread is searched for it (by its metadata) before posting again;
 * - `thread`: the ts of the task's thread;
 * - `renderedSeq`, `renderedAt`, `finalRendered`: the status message shows the task up to that seq,
 *   was last updated then, and shows the final state;
 * - `stopped`: delivery stopped for good with that code (e.g. `RELAY_SLACK_AUTH_FAILED`).
 */
export interface DeliveryState {
  posted: Map<MessageKind, string>;
  posting: Map<MessageKind, number>;
  threadTs: string | undefined;
  renderedSeq: number;
  renderedAt: number;
  finalRendered: boolean;
  stopped: string | undefined;
}

export const SKIPPED = 'skipped';

export class DeliveryStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async load(taskId: string): Promise<DeliveryState> {
    const hash = await this.redis.hgetall(this.keys.slackDelivery(taskId));
    const state: DeliveryState = {
      posted: new Map(),
      posting: new Map(),
      threadTs: hash.thread,
      renderedSeq: Number(hash.renderedSeq ?? 0) || 0,
      renderedAt: Number(hash.renderedAt ?? 0) || 0,
      finalRendered: hash.finalRendered === '1',
      stopped: hash.stopped,
    };
    for (const [field, value] of Object.entries(hash)) {
      if (field.startsWith('ts:')) state.posted.set(field.slice(3) as MessageKind, value);
      else if (field.startsWith('posting:')) state.posting.set(field.slice(8) as MessageKind, Number(value) || 0);
    }
    return state;
  }

  async posting(taskId: string, kind: MessageKind, at: number): Promise<void> {
    await this.redis.hset(this.keys.slackDelivery(taskId), `posting:${kind}`, String(at));
  }

  async posted(taskId: string, kind: MessageKind, ts: string, threadTs?: string): Promise<void> {
    const fields: Record<string, string> = { [`ts:${kind}`]: ts };
    if (threadTs !== undefined) fields.thread = threadTs;
    await this.redis.hset(this.keys.slackDelivery(taskId), fields);
  }

  async rendered(taskId: string, seq: number, at: number, final: boolean): Promise<void> {
    const fields: Record<string, string> = { renderedSeq: String(seq), renderedAt: String(at) };
    if (final) fields.finalRendered = '1';
    await this.redis.hset(this.keys.slackDelivery(taskId), fields);
  }

  async stopped(taskId: string, code: string): Promise<void> {
    await this.redis.hset(this.keys.slackDelivery(taskId), 'stopped', code);
  }

  /** The task is done: the state is kept as long as the task's events. */
  async expire(taskId: string, ttlSec: number): Promise<void> {
    await this.redis.expire(this.keys.slackDelivery(taskId), ttlSec);
  }
}
