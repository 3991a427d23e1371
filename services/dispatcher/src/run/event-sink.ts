import { isFinalState, type AgentEventInput, type TaskState, type TaskStore } from '@agentq/shared';
import type { RunPhase } from './output-reader.js';

const PHASE_RANK: Record<RunPhase, number> = { starting: 0, running: 1, publishing: 2 };

/** Events flushed at once once this many are pending (a line's events are never split). */
export const BATCH_EVENTS = 200;

/**
 * Writes a run's events to the task's stream in small batches, and moves the task forward through
 * its phases. Events are queued whole lines at a time, so a batch never splits a line: a dispatcher
 * that takes over can skip exactly the lines already written.
 */
export class EventSink {
  private pending: AgentEventInput[] = [];
  /** Set once the task is final (or gone): nothing more can be written. */
  closed = false;

  constructor(
    private readonly store: TaskStore,
    private readonly taskId: string,
    public state: TaskState,
  ) {}

  get size(): number {
    return this.pending.length;
  }

  add(events: AgentEventInput[]): void {
    this.pending.push(...events);
  }

  /** Writes what is pending. False when the task turned final meanwhile (the events are dropped). */
  async flush(): Promise<boolean> {
    if (this.pending.length === 0) return !this.closed;
    const batch = this.pending;
    this.pending = [];
    const seq = await this.store.append(this.taskId, batch);
    if (seq === undefined) {
      await this.refresh();
      return false;
    }
    return true;
  }

  /** Moves the task to `phase` if it is behind it. False when the task is final. */
  async advance(phase: RunPhase): Promise<boolean> {
    if (this.closed) return false;
    const current = this.state as RunPhase;
    if (!(current in PHASE_RANK) || PHASE_RANK[phase] <= PHASE_RANK[current]) return true;
    await this.flush();
    const result = await this.store.transition(this.taskId, phase);
    if (result.ok) {
      this.state = phase;
      return true;
    }
    await this.refresh();
    return !this.closed;
  }

  private async refresh(): Promise<void> {
    const task = await this.store.get(this.taskId);
    if (task) this.state = task.state;
    if (!task || isFinalState(task.state)) this.closed = true;
  }
}
