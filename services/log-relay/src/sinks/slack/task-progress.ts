import { TASK_STATES, isFinalState, type AgentEvent, type DiffStat, type TaskError, type TaskState, type WaitingInfo } from '@agentq/shared';

/** Replies posted in a task's thread when something notable happens, at most once each. */
export type MilestoneKind = 'started' | 'pushed' | 'pr' | 'ended';

/** Every message the sink posts for a task; each carries its kind in the message metadata. */
export type MessageKind = 'status' | MilestoneKind | 'summary';

export const MESSAGE_KINDS: readonly MessageKind[] = ['status', 'started', 'pushed', 'pr', 'ended', 'summary'];

export type Milestone =
  | { kind: 'started'; seq: number }
  | { kind: 'pushed'; seq: number; branch: string | undefined; commit: string | undefined; diffStat: DiffStat | undefined }
  | { kind: 'pr'; seq: number; url: string; number: number | undefined }
  | { kind: 'ended'; seq: number; state: TaskState; error: TaskError | undefined };

/** What the status message shows, folded from a task's events. */
export class TaskProgress {
  /** Last seq applied. */
  seq = 0;
  state: TaskState = 'queued';
  step: string | undefined;
  toolCalls = 0;
  lastTool: string | undefined;
  tokens = 0;
  costUsd: number | undefined;
  turns: number | undefined;
  /** When the task started running (ms since the epoch), from its events. */
  startedAt: number | undefined;
  endedAt: number | undefined;
  error: TaskError | undefined;
  private diffStat: DiffStat | undefined;
  /** The latest `task.waiting` event. */
  private waitingEvent: WaitingInfo | undefined;
  /** The task record's `waiting`, as last read. */
  private waitingRecord: WaitingInfo | undefined;
  private readonly reached = new Map<MilestoneKind, Milestone>();

  get final(): boolean {
    return isFinalState(this.state);
  }

  /** Milestones reached so far, in the order they were reached. */
  milestones(): Milestone[] {
    return [...this.reached.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Applies the events after `seq`; returns true when something changed. */
  apply(events: AgentEvent[]): boolean {
    let changed = false;
    for (const event of events) {
      if (event.seq <= this.seq) continue;
      this.seq = event.seq;
      changed = true;
      this.applyOne(event);
    }
    return changed;
  }

  /**
   * Why the task waits, while it is queued. The events say why, in order; the record, read now
   * and then, says where it stands now (its position moves on without an event), and why while no
   * event has said so yet. A record that names another reason than the latest event is behind or
   * ahead of the events read so far: the event is shown until the events catch up.
   */
  get waiting(): WaitingInfo | undefined {
    if (this.state !== 'queued') return undefined;
    const event = this.waitingEvent;
    const record = this.waitingRecord;
    if (!event) return record;
    return record && record.reason === event.reason && record.on === event.on ? record : event;
  }

  /** Takes the `waiting` of the task's record; true when it changed what is shown. */
  setRecordWaiting(waiting: WaitingInfo | undefined): boolean {
    const before = this.waiting;
    this.waitingRecord = waiting && { reason: waiting.reason, position: waiting.position, on: waiting.on };
    return !sameWaiting(before, this.waiting);
  }

  private reach(milestone: Milestone): void {
    if (!this.reached.has(milestone.kind)) this.reached.set(milestone.kind, milestone);
  }

  private applyOne(event: AgentEvent): void {
    switch (event.kind) {
      case 'task.state': {
        if (!TASK_STATES.includes(event.state)) return;
        this.state = event.state;
        const at = Date.parse(event.ts);
        if (event.state === 'starting' || event.state === 'running') this.startedAt ??= at;
        if (event.state === 'running') this.reach({ kind: 'started', seq: event.seq });
        if (isFinalState(event.state)) {
          this.endedAt = at;
          this.error = event.error;
          if (event.state !== 'succeeded') this.reach({ kind: 'ended', seq: event.seq, state: event.state, error: event.error });
        }
        return;
      }
      case 'task.waiting':
        this.waitingEvent = { reason: event.reason, position: event.position, on: event.on };
        return;
      case 'step':
        this.step = event.step;
        return;
      case 'agent.tool_call':
        this.toolCalls += 1;
        this.lastTool = event.name;
        return;
      case 'agent.usage':
        this.tokens += (event.inputTokens ?? 0) + (event.outputTokens ?? 0) + (event.cacheReadTokens ?? 0) + (event.cacheWriteTokens ?? 0);
        // the model gateway's running total of the task
        if (event.costUsd !== undefined) this.costUsd = event.costUsd;
        return;
      case 'agent.result':
        if (event.costUsd !== undefined) this.costUsd = event.costUsd;
        if (event.turns !== undefined) this.turns = event.turns;
        return;
      case 'git':
        if (event.action === 'commit' && event.ok && event.diffStat) this.diffStat = event.diffStat;
        if (event.action === 'push' && event.ok) {
          this.reach({ kind: 'pushed', seq: event.seq, branch: event.branch, commit: event.commit, diffStat: this.diffStat });
        }
        return;
      case 'pr.opened':
        this.reach({ kind: 'pr', seq: event.seq, url: event.url, number: event.number });
        return;
      default:
        return;
    }
  }
}

function sameWaiting(a: WaitingInfo | undefined, b: WaitingInfo | undefined): boolean {
  if (!a || !b) return a === b;
  return a.reason === b.reason && a.position === b.position && a.on === b.on;
}
