import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { errorMessage, isFinalState, slotKeys, type Logger, type RedisKeys, type TaskStore } from '@agentq/shared';
import type { SandboxProvider } from '../providers/sandbox-provider.js';
import type { LapsedSlot, SlotLedger } from './slot-ledger.js';

export interface SlotReclaimerOptions {
  ledger: SlotLedger;
  provider: SandboxProvider;
  store: TaskStore;
  redis: Redis;
  keys: RedisKeys;
  logger: Logger;
  /** The tag holding a sandbox's task id. */
  taskTag: string;
  /** Time between two looks (of all dispatchers together). */
  intervalMs: number;
}

/** What one look did. */
export interface ReclaimReport {
  /** Slots freed: their lease ran out and their sandbox is gone (or was never created), or their waiting task never came. */
  reclaimed: LapsedSlot[];
  /** Slots whose lease ran out but whose sandbox still runs: kept. */
  kept: string[];
  /** Tasks taken out of the waiting lines: final or gone. */
  forgotten: string[];
  /** Another dispatcher looked in this interval. */
  skipped?: boolean;
}

/** Lapsed slots looked at per pass. */
const PAGE = 100;

/**
 * Frees the slots nobody renews any more, but never one whose sandbox still runs: a slot whose
 * lease ran out (its dispatcher died) is freed once the sandbox provider says the task's sandbox
 * no longer runs (or there never was one); a slot set aside for a waiting task that did not come
 * within its time is freed too. Also takes tasks that ended while waiting (canceled) out of the
 * waiting lines. A Redis lock lets one dispatcher look per interval.
 */
export class SlotReclaimer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ReclaimReport> | undefined;
  private cursor = '0';
  private readonly id = randomUUID();

  constructor(private readonly options: SlotReclaimerOptions) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.check(), this.options.intervalMs);
    this.timer.unref();
  }

  /** Stops looking; waits for a look in progress. Safe to call twice. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One look, unless another dispatcher looked in this interval (`force`: look anyway). Never throws. */
  check(force = false): Promise<ReclaimReport> {
    this.running ??= this.checkOnce(force).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async checkOnce(force: boolean): Promise<ReclaimReport> {
    const { ledger, logger, redis, keys, intervalMs } = this.options;
    const report: ReclaimReport = { reclaimed: [], kept: [], forgotten: [] };
    try {
      const lockMs = Math.max(100, intervalMs - 50);
      if (!force && (await redis.set(slotKeys.reclaimLock(keys), this.id, 'PX', lockMs, 'NX')) !== 'OK') return { ...report, skipped: true };
      for (const slot of await ledger.lapsed(PAGE)) {
        try {
          if (slot.state === 'held' && (await this.sandboxRuns(slot.taskId))) {
            report.kept.push(slot.taskId);
            logger.debug({ taskId: slot.taskId }, 'slot lease ran out but its sandbox runs: kept');
            continue;
          }
          if (await ledger.reclaim(slot)) {
            report.reclaimed.push(slot);
            logger.warn({ taskId: slot.taskId, state: slot.state }, 'slot reclaimed');
          }
        } catch (err) {
          logger.warn({ taskId: slot.taskId, err: errorMessage(err) }, 'could not look at a lapsed slot');
        }
      }
      report.forgotten = await this.forgetEnded();
    } catch (err) {
      logger.warn({ err: errorMessage(err) }, 'slot reclaim failed');
    }
    return report;
  }

  /** Does a sandbox of the task run, as the provider says? (The one on its record, or any tagged with it.) */
  private async sandboxRuns(taskId: string): Promise<boolean> {
    const { provider, store, taskTag } = this.options;
    if ((await provider.list({ [taskTag]: taskId })).some((s) => s.status.state === 'running')) return true;
    const sandboxId = (await store.get(taskId))?.sandboxId;
    if (!sandboxId) return false;
    const handle = await provider.attach(sandboxId);
    return handle !== undefined && (await handle.status()).state === 'running';
  }

  /** Takes one page of waiting tasks that are final or gone out of line (and every such predecessor wait). */
  private async forgetEnded(): Promise<string[]> {
    const { ledger, store } = this.options;
    const [next, waiting] = await ledger.waitingPage(this.cursor);
    this.cursor = next;
    const ids = [...new Set([...waiting, ...(await ledger.predecessorWaits())])];
    if (ids.length === 0) return [];
    const pipeline = store.redis.pipeline();
    for (const id of ids) pipeline.hget(store.keys.task(id), 'state');
    const states = (await pipeline.exec()) ?? [];
    const ended: string[] = [];
    ids.forEach((id, i) => {
      const [err, raw] = states[i] ?? [null, null];
      if (err) return;
      if (raw === null || raw === undefined || isFinalState(JSON.parse(raw as string))) ended.push(id);
    });
    for (const id of ended) {
      await ledger.forget(id);
      await store.unset(id, ['waiting']);
    }
    return ended;
  }
}
