import { TASK_STATES, isFinalState, type AgentEvent, type DiffStat, type TaskError, type TaskState } from '@agentq/shared';

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
      case 'step':
        this.step = event.step;
        return;
      case 'agent.tool_call':
        this.toolCalls += 1;
        this.lastTool = event.name;
        return;
      case 'agent.usage':
        this.tokens += (event.inputTokens ?? 0) + (event.outputTokens ?? 0) + (event.cacheReadTokens ?? 0) + (event.cacheWriteTokens ?? 0);
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
