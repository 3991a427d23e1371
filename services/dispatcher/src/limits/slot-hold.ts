import type { Logger } from '@agentq/shared';
import type { SandboxHandle, SandboxProvider } from '../providers/sandbox-provider.js';
import { TASK_TAG } from '../sandbox-tags.js';
import type { SlotKeeper } from './slot-keeper.js';
import type { Acquired, SlotLedger, SlotTask } from './slot-ledger.js';

export interface SlotHoldDeps {
  slots: SlotLedger;
  keeper: SlotKeeper;
  provider: SandboxProvider;
}

/**
 * One run's hold on its task's concurrency slot: taken before a sandbox is created (or kept for
 * the sandbox re-attached to), renewed while the run follows it, and freed only once the sandbox
 * is known to be gone. A run that stops without knowing (hand-over, error) leaves it: its lease
 * runs out unless a dispatcher takes the task over, and is reclaimed only when the provider says
 * the sandbox no longer runs.
 */
export class SlotHold {
  private held = false;
  /** Set when this run moved the task out of the queue: no earlier run can have created a sandbox for it. */
  fresh = false;

  constructor(
    private readonly deps: SlotHoldDeps,
    private readonly task: SlotTask,
    private readonly log: Logger,
  ) {}

  /** Takes the task's slot (or keeps the one it has), or puts it in line. */
  async acquire(): Promise<Acquired> {
    const got = await this.deps.slots.acquire(this.task);
    if (got.granted) this.hold();
    return got;
  }

  /** The task's sandbox was re-attached to: its slot is kept; one that runs without a slot takes one, caps or not. */
  async keepFor(handle: SandboxHandle): Promise<void> {
    let how = await this.deps.slots.keep(this.task, false);
    if (how === 'none' && (await handle.status()).state === 'running') {
      how = await this.deps.slots.keep(this.task, true);
      this.log.warn({ sandboxId: handle.id }, 're-attached sandbox had no slot; counted again');
    }
    if (how !== 'none') this.hold();
  }

  /** Right before a sandbox is created: is the slot still the task's (its lease renewed)? */
  async confirm(): Promise<boolean> {
    if (!this.held) return false;
    if ((await this.deps.slots.renew([this.task.id])).length === 0) return true;
    this.leave();
    return false;
  }

  /** The task's sandbox was terminated (verified) or ended, as the provider says: the slot is freed. */
  async release(): Promise<void> {
    this.deps.keeper.remove(this.task.id);
    this.held = false;
    if (await this.deps.slots.release(this.task.id)) this.log.debug('slot freed');
  }

  /**
   * The run ended without a sandbox of its own: the slot is freed unless a sandbox of the task
   * runs (one an earlier run created, which this one could not re-attach to).
   */
  async releaseUnlessRunning(): Promise<void> {
    if (this.fresh) return this.release();
    const running = (await this.deps.provider.list({ [TASK_TAG]: this.task.id })).some((s) => s.status.state === 'running');
    if (running) this.leave();
    else await this.release();
  }

  /** Stops renewing; the slot stays with the task. */
  leave(): void {
    this.deps.keeper.remove(this.task.id);
    this.held = false;
  }

  private hold(): void {
    this.held = true;
    this.deps.keeper.add(this.task);
  }
}
