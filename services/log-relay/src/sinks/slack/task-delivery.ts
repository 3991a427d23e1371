import type { Logger, SlackContext, SlackThreads, SlackTokenResolver, TaskRecord, TaskStore } from '@agentq/shared';
import { ClaimStaleError, DeliveryReleasedError, type RelayErrorCode } from '../../relay-errors.js';
import { StepScheduler } from '../../step-scheduler.js';
import { SKIPPED, type DeliveryState, type DeliveryStore } from './delivery-state.js';
import { DeliveryFailures } from './delivery-failures.js';
import { MessagePoster } from './message-poster.js';
import type { SlackMessage } from './render/blocks.js';
import { renderMilestone } from './render/milestone-message.js';
import { renderStatus } from './render/status-message.js';
import { renderSummary } from './render/summary-message.js';
import type { SlackClients } from './slack-clients.js';
import type { SlackMetrics } from './slack-metrics.js';
import { TaskProgress } from './task-progress.js';
import { WorkspaceToken } from './workspace-token.js';

export interface TaskDeliveryDeps {
  threads: SlackThreads;
  store: TaskStore;
  deliveries: DeliveryStore;
  clients: SlackClients;
  resolveToken: SlackTokenResolver;
  metrics: SlackMetrics;
  logger: Logger;
  statusIntervalMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  deliveryTtlSec: number;
  viewerUrl(taskId: string): string;
  /** True while this relay may write for the task. */
  owns(taskId: string): boolean;
}

/** Spread of the Slack retries (±25 %). */
const RETRY_JITTER = 0.25;

/**
 * Delivers one task to Slack: the status message (posted once, then updated in place at most once
 * per interval), the milestone replies and the final summary. Its steps run one at a time (see
 * `StepScheduler`); a step does whatever is due and says when to come back. Posts go through a
 * `MessagePoster` (nothing twice), failed steps through `DeliveryFailures` (retry or stop).
 */
export class TaskDelivery {
  readonly progress = new TaskProgress();
  /** Place in the queue while queued. */
  queuePosition: number | undefined;
  private finished = false;
  private version = 0;
  private renderedVersion = -1;
  private finalRecord: TaskRecord | undefined;
  private recorded = false;
  private statusGone = false;
  private readonly log: Logger;
  private readonly steps: StepScheduler;
  private readonly poster: MessagePoster;
  private readonly failures: DeliveryFailures;

  constructor(
    private readonly deps: TaskDeliveryDeps,
    private task: TaskRecord,
    private readonly slack: SlackContext,
    private readonly state: DeliveryState,
    /** Work of an earlier delivery of the same task that must end first. */
    previous: Promise<void> | undefined,
  ) {
    this.log = deps.logger.child({ taskId: task.id });
    const token = new WorkspaceToken(deps.resolveToken, slack);
    this.poster = new MessagePoster({
      taskId: task.id,
      slack,
      state,
      deliveries: deps.deliveries,
      clients: deps.clients,
      token,
      metrics: deps.metrics,
      log: this.log,
      active: () => this.active(),
      owned: () => this.owned(),
    });
    this.failures = new DeliveryFailures({ token, log: this.log, retry: { initialMs: deps.retryBaseMs, maxMs: deps.retryMaxMs, jitter: RETRY_JITTER } });
    this.steps = new StepScheduler({
      after: previous,
      step: async () => {
        const wait = await this.step();
        this.failures.succeeded();
        return wait;
      },
      failed: (err) => this.failed(err),
    });
    if (state.stopped) this.end();
  }

  get taskId(): string {
    return this.task.id;
  }

  /** Summary posted and final state shown, or delivery stopped: `finish` may resolve. */
  get done(): boolean {
    return this.finished;
  }

  /** Folds events in (repeats are skipped); true when the status changed. */
  apply(events: Parameters<TaskProgress['apply']>[0]): boolean {
    const changed = this.progress.apply(events);
    if (changed) this.version += 1;
    return changed;
  }

  /** After the history was applied: is the status message already showing all of it? */
  settle(): void {
    const upToDate = this.state.renderedSeq >= this.progress.seq && (!this.progress.final || this.state.finalRendered);
    if (upToDate) this.renderedVersion = this.version;
  }

  /** The waiting info of the task's record; true when what the status shows changed. */
  setWaiting(waiting: Parameters<TaskProgress['setRecordWaiting']>[0]): boolean {
    if (!this.progress.setRecordWaiting(waiting)) return false;
    this.version += 1;
    return true;
  }

  /** True when the position changed. */
  setQueuePosition(position: number | undefined): boolean {
    if (position === this.queuePosition) return false;
    this.queuePosition = position;
    this.version += 1;
    return true;
  }

  /**
   * For a started task whose status message was last rendered `ms` or more ago: marks the status
   * as changed, so that its elapsed time moves on while the agent is quiet. True when marked.
   */
  refreshIfOlder(ms: number, now = Date.now()): boolean {
    if (this.finished || this.progress.final || this.progress.state === 'queued') return false;
    if (this.state.renderedAt === 0 || now - this.state.renderedAt < ms) return false;
    this.version += 1;
    return true;
  }

  /** Runs a step now, unless one is running (it then runs again) or a retry is scheduled. */
  kick(): void {
    this.steps.kick();
  }

  /** Stops for good; the step in progress ends after its current call. */
  release(): void {
    this.steps.stop();
  }

  /** Resolves once no step is running. */
  idle(): Promise<void> {
    return this.steps.idle();
  }

  /** Delivery is over (done or stopped): no step runs again. */
  private end(): void {
    this.finished = true;
    this.steps.stop();
  }

  private active(): void {
    if (this.steps.isStopped && !this.finished) throw new DeliveryReleasedError(this.taskId);
  }

  private owned(): void {
    this.active();
    if (!this.deps.owns(this.taskId)) throw new ClaimStaleError(this.taskId);
  }

  /** Does what is due; returns when to come back (ms), or undefined when nothing is waiting. */
  private async step(): Promise<number | undefined> {
    if (this.state.stopped) {
      this.end();
      return undefined;
    }
    if (this.progress.final && !this.finalRecord) {
      this.finalRecord = (await this.deps.store.get(this.taskId)) ?? this.task;
      this.task = this.finalRecord;
    }
    if (!(await this.ensureStatus())) return undefined;
    for (const milestone of this.progress.milestones()) {
      await this.poster.ensurePosted(milestone.kind, this.thread(), () => renderMilestone(milestone, this.task.repo));
    }
    let wait: number | undefined;
    if (this.needsRender()) {
      const due = this.state.renderedAt + this.deps.statusIntervalMs - Date.now();
      if (due > 0) wait = due;
      else await this.updateStatus();
    }
    if (this.progress.final && this.finalRecord) {
      const record = this.finalRecord;
      const posted = await this.poster.ensurePosted('summary', this.thread(), () =>
        renderSummary({ task: record, progress: this.progress, viewerUrl: this.deps.viewerUrl(this.taskId) }),
      );
      if (posted === 'new') {
        this.deps.metrics.summaries.inc();
        this.log.info({ summaryTs: this.state.posted.get('summary') }, 'slack summary posted');
      }
      if (!this.needsRender()) {
        await this.deps.deliveries.expire(this.taskId, this.deps.deliveryTtlSec);
        this.end();
        return undefined;
      }
    }
    return wait;
  }

  private needsRender(): boolean {
    const statusTs = this.state.posted.get('status');
    if (this.statusGone || statusTs === undefined || statusTs === SKIPPED) return false;
    return this.renderedVersion < this.version || (this.progress.final && !this.state.finalRendered);
  }

  private thread(): string | undefined {
    const status = this.state.posted.get('status');
    return this.slack.threadTs ?? this.state.threadTs ?? (status !== SKIPPED ? status : undefined);
  }

  private statusMessage(): SlackMessage {
    return renderStatus({
      task: this.task,
      progress: this.progress,
      queuePosition: this.queuePosition,
      viewerUrl: this.deps.viewerUrl(this.taskId),
      now: Date.now(),
    });
  }

  /** Posts the status message unless it exists. False when the task has nowhere to post to. */
  private async ensureStatus(): Promise<boolean> {
    if (!this.state.posted.has('status') && this.task.slack?.statusTs) {
      // recorded on the task, not in the delivery state: the state was lost, the message was not
      await this.deps.deliveries.posted(this.taskId, 'status', this.task.slack.statusTs, this.slack.threadTs ?? this.task.slack.statusTs);
      this.state.posted.set('status', this.task.slack.statusTs);
    }
    if (!this.state.posted.has('status')) {
      const version = this.version;
      const seq = this.progress.seq;
      // a slash command's task has no thread yet: its status message starts one
      const result = await this.poster.ensurePosted('status', this.slack.threadTs, () => this.statusMessage());
      if (result === 'new') await this.rendered(version, seq);
    }
    if (this.thread() === undefined) {
      await this.stop('RELAY_SLACK_MESSAGE_REJECTED', {}, 'status message refused; the task has no thread to post to');
      return false;
    }
    await this.record();
    return true;
  }

  /**
   * Puts the status message on the task record (`slack.statusTs`, and `slack.threadTs` when it
   * starts the thread) and, when it starts the thread, points the thread at the task.
   */
  private async record(): Promise<void> {
    if (this.recorded) return;
    const statusTs = this.state.posted.get('status');
    if (statusTs === undefined || statusTs === SKIPPED) return;
    const threadTs = this.slack.threadTs ?? statusTs;
    this.owned();
    if (threadTs === statusTs) {
      // first, so that it is set once the record says the thread exists
      await this.deps.threads.startedBy({ teamId: this.slack.teamId, channel: this.slack.channel, threadTs: statusTs }, this.taskId);
    }
    const current = this.task.slack;
    if (current?.statusTs !== statusTs || current.threadTs !== threadTs) {
      const slack: SlackContext = { ...this.slack, ...current, threadTs, statusTs };
      await this.deps.store.update(this.taskId, { slack });
      this.task = { ...this.task, slack };
    }
    this.recorded = true;
  }

  private async rendered(version: number, seq: number): Promise<void> {
    const at = Date.now();
    const final = this.progress.final && this.finalRecord !== undefined;
    this.renderedVersion = version;
    this.state.renderedAt = at;
    this.state.renderedSeq = seq;
    if (final) this.state.finalRendered = true;
    await this.deps.deliveries.rendered(this.taskId, seq, at, final);
  }

  private async updateStatus(): Promise<void> {
    const statusTs = this.state.posted.get('status');
    if (statusTs === undefined || statusTs === SKIPPED) return;
    const version = this.version;
    const seq = this.progress.seq;
    if ((await this.poster.update(statusTs, this.statusMessage())) === 'gone') {
      this.statusGone = true;
      return;
    }
    await this.rendered(version, seq);
  }

  /** A step failed: returns when to try again, or undefined when delivery stopped. */
  private async failed(err: unknown): Promise<number | undefined> {
    const decision = await this.failures.decide(err);
    if (decision.kind === 'retry') return decision.inMs;
    await this.stop(decision.code, decision.fields, decision.message);
    return undefined;
  }

  private async stop(code: RelayErrorCode, fields: Record<string, unknown>, message: string): Promise<void> {
    this.state.stopped = code;
    this.end();
    this.deps.metrics.stopped.inc({ code });
    this.log.error({ code, ...fields }, message);
    try {
      await this.deps.deliveries.stopped(this.taskId, code);
      await this.deps.deliveries.expire(this.taskId, this.deps.deliveryTtlSec);
    } catch (err) {
      this.log.warn({ err, code: 'RELAY_SLACK_STATE_NOT_SAVED' satisfies RelayErrorCode }, 'could not record that slack delivery stopped');
    }
  }
}
