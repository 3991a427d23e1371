import { errorMessage, type Logger } from '@agentq/shared';
import type { SlotLedger, SlotTask } from './slot-ledger.js';

/**
 * Renews the leases of the slots this dispatcher's running tasks hold, three times a lease. A
 * slot the ledger no longer has while its task runs here (Redis lost its data) is taken again:
 * the ledger must never count fewer sandboxes than there are.
 */
export class SlotKeeper {
  private readonly held = new Map<string, SlotTask>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly ledger: SlotLedger,
    private readonly log: Logger,
    private readonly intervalMs = Math.max(100, Math.floor(ledger.leaseMs / 3)),
  ) {}

  add(task: SlotTask): void {
    this.held.set(task.id, task);
  }

  remove(taskId: string): void {
    this.held.delete(taskId);
  }

  start(): void {
    this.timer ??= setInterval(() => void this.renew(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops renewing (the slots stay: their leases run out unless other dispatchers take the tasks over). Safe to call twice. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One renewal. Never throws. */
  renew(): Promise<void> {
    this.running ??= this.renewOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async renewOnce(): Promise<void> {
    try {
      for (const taskId of await this.ledger.renew([...this.held.keys()])) {
        const task = this.held.get(taskId);
        if (!task) continue; // released meanwhile
        const how = await this.ledger.keep(task, true);
        this.log.warn({ taskId, how }, 'slot of a running task was missing from the ledger; taken again');
      }
    } catch (err) {
      this.log.warn({ err: errorMessage(err), slots: this.held.size }, 'slot leases not renewed');
    }
  }
}
