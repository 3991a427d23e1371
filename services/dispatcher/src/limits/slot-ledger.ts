import type { Redis } from 'ioredis';
import {
  encodeSlotLimits,
  readSlotSnapshot,
  slotKeys,
  slotOrderScore,
  slotScriptKeys,
  type RedisKeys,
  type SlotLimits,
  type SlotSnapshot,
  type TaskRecord,
} from '@agentq/shared';
import {
  acquireSlotScript,
  forgetTaskScript,
  lapsedSlotsScript,
  reclaimSlotScript,
  releaseSlotScript,
  renewSlotsScript,
} from './slot-scripts.js';

/** Why a task waits for a slot: its team, its repository or the whole pool is at its cap. */
export type SlotWaitReason = 'global' | 'team' | 'repo';

export type Acquired =
  /** `kept`: the task held a slot already (or one was set aside for it); `new`: taken now. */
  | { granted: true; how: 'kept' | 'new' }
  /** In line; `position` 1 is next to start among the tasks waiting for the same reason. */
  | { granted: false; reason: SlotWaitReason; position: number };

/** The task's fields the ledger goes by. */
export type SlotTask = Pick<TaskRecord, 'id' | 'team' | 'repo' | 'priority' | 'createdAt'>;

/** A slot whose lease ran out: `held` (its dispatcher stopped renewing it) or `reserved` (its task never came). */
export interface LapsedSlot {
  taskId: string;
  state: 'held' | 'reserved';
}

export interface SlotLedgerOptions {
  redis: Redis;
  keys: RedisKeys;
  limits: SlotLimits;
  /** Lease of a held slot, renewed by its dispatcher. */
  leaseMs: number;
  /** How long a slot set aside for a waiting task is kept for it. */
  reserveMs: number;
  /** Who holds the slots taken through this ledger (the dispatcher). */
  owner: string;
}

/**
 * The concurrency slots of the whole dispatcher pool, in Redis: who holds one, who waits for one
 * (and in which order). Every call that frees a slot sets free slots aside for the next waiting
 * tasks in the same step; `onHandOut` hears of them (their jobs are promoted).
 */
export class SlotLedger {
  private readonly scriptKeys: string[];
  private readonly limits: string;
  /** Told the tasks slots were just set aside for. */
  onHandOut: (taskIds: string[]) => Promise<void> = async () => {};

  constructor(private readonly options: SlotLedgerOptions) {
    this.scriptKeys = slotScriptKeys(options.keys);
    this.limits = encodeSlotLimits(options.limits);
  }

  get leaseMs(): number {
    return this.options.leaseMs;
  }

  /**
   * Takes a slot for the task if the caps and the waiting line allow it, else puts it in line (or
   * leaves it there). A slot it holds already is kept.
   */
  async acquire(task: SlotTask): Promise<Acquired> {
    const result = await this.acquireWith(task, 'wait');
    const [granted, how, position, ...handed] = result;
    await this.handedOut(handed);
    if (granted === 1) return { granted: true, how: how as 'kept' | 'new' };
    return { granted: false, reason: how as SlotWaitReason, position: Number(position) };
  }

  /**
   * The slot of a task whose sandbox exists (after a restart): kept when it holds one; else,
   * with `force`, taken whatever the caps (the sandbox runs: it counts). Returns what happened.
   */
  async keep(task: SlotTask, force: boolean): Promise<'kept' | 'forced' | 'none'> {
    const [granted, how] = await this.acquireWith(task, force ? 'force' : 'keep');
    return granted === 1 ? (how as 'kept' | 'forced') : 'none';
  }

  private async acquireWith(task: SlotTask, mode: 'wait' | 'keep' | 'force'): Promise<(string | number)[]> {
    const { options } = this;
    return (await acquireSlotScript.run(options.redis, this.scriptKeys, [
      options.keys.slots,
      this.limits,
      task.id,
      task.team,
      task.repo,
      slotOrderScore(task.priority, task.createdAt),
      options.owner,
      options.leaseMs,
      options.reserveMs,
      mode,
    ])) as (string | number)[];
  }

  /** Frees the task's slot (its sandbox is gone, or was never created). False when it held none: a slot is freed once. */
  async release(taskId: string): Promise<boolean> {
    return this.freeing(releaseSlotScript, [taskId, this.options.reserveMs]);
  }

  /** Frees a slot whose lease has run out, unless it was renewed or changed state meanwhile. */
  async reclaim(slot: LapsedSlot): Promise<boolean> {
    return this.freeing(reclaimSlotScript, [slot.taskId, this.options.reserveMs, slot.state === 'held' ? 'h' : 'r']);
  }

  /** The task will not start (final, or gone): out of line, and a slot set aside for it is freed. */
  async forget(taskId: string): Promise<void> {
    await this.freeing(forgetTaskScript, [taskId, this.options.reserveMs]);
  }

  private async freeing(script: typeof releaseSlotScript, args: (string | number)[]): Promise<boolean> {
    const [freed, ...handed] = (await script.run(this.options.redis, this.scriptKeys, [this.options.keys.slots, this.limits, ...args])) as (
      | string
      | number
    )[];
    await this.handedOut(handed);
    return freed === 1;
  }

  private async handedOut(handed: (string | number)[]): Promise<void> {
    if (handed.length > 0) await this.onHandOut(handed.map(String));
  }

  /** Renews the leases of slots held; returns the task ids that hold none (any more). */
  async renew(taskIds: string[]): Promise<string[]> {
    if (taskIds.length === 0) return [];
    const { options } = this;
    return (await renewSlotsScript.run(options.redis, this.scriptKeys, [options.keys.slots, options.leaseMs, ...taskIds])) as string[];
  }

  /** True when a slot is set aside for the task (it may start). */
  async reserved(taskId: string): Promise<boolean> {
    const raw = await this.options.redis.hget(this.scriptKeys[0] as string, taskId);
    return raw !== null && (JSON.parse(raw) as { s?: string }).s === 'r';
  }

  /** Slots whose lease has run out, at most `limit`. */
  async lapsed(limit = 100): Promise<LapsedSlot[]> {
    const flat = (await lapsedSlotsScript.run(this.options.redis, this.scriptKeys, [this.options.keys.slots, limit])) as string[];
    const out: LapsedSlot[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ taskId: flat[i] as string, state: flat[i + 1] === 'r' ? 'reserved' : 'held' });
    return out;
  }

  /** Notes that a task waits for another one to end (counted in the metrics), or no longer does. */
  async notePredecessorWait(task: Pick<TaskRecord, 'id' | 'team'>, waiting: boolean): Promise<void> {
    const key = slotKeys.pred(this.options.keys);
    if (waiting) await this.options.redis.hset(key, task.id, task.team);
    else await this.options.redis.hdel(key, task.id);
  }

  /** Task ids waiting for a slot, a page at a time (for clean-up): `[next cursor, ids]`; cursor `0` starts and ends. */
  async waitingPage(cursor: string, count = 200): Promise<[string, string[]]> {
    const [next, flat] = await this.options.redis.hscan(this.scriptKeys[3] as string, cursor, 'COUNT', count);
    return [next, flat.filter((_, i) => i % 2 === 0)];
  }

  /** Task ids noted waiting for another task to end. */
  async predecessorWaits(): Promise<string[]> {
    return this.options.redis.hkeys(slotKeys.pred(this.options.keys));
  }

  /** How many slots are held, and who waits for what, at one instant. */
  stats(): Promise<SlotSnapshot> {
    return readSlotSnapshot(this.options.redis, this.options.keys);
  }
}
