import {
  AgentqError,
  type Logger,
  type RedisKeys,
  type SlackContext,
  type SlackTokenResolver,
  type TaskRecord,
  type TaskStore,
} from '@agentq/shared';
import type { Redis } from 'ioredis';
import { SKIPPED, type DeliveryState, type DeliveryStore } from './delivery-state.js';
import { section, type SlackMessage } from './render/blocks.js';
import { renderMilestone } from './render/milestone-message.js';
import { renderStatus } from './render/status-message.js';
import { renderSummary } from './render/summary-message.js';
import type { SlackClients } from './slack-clients.js';
import { classifySlackError, describeSlackError, platformError, callOutcome } from './slack-errors.js';
import type { SlackMetrics } from './slack-metrics.js';
import { TaskProgress, type MessageKind } from './task-progress.js';

/** `event_type` of the metadata on every message the sink posts. */
export const METADATA_EVENT_TYPE = 'agentq_task';

export interface TaskDeliveryDeps {
  redis: Redis;
  keys: RedisKeys;
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

/** Thrown inside a step once the delivery was released: the step ends quietly. */
const RELEASED = 'RELAY_SLACK_RELEASED';
const STALE = 'RELAY_CLAIM_STALE';
const STALE_RETRY_MS = 250;
/** Token resolver codes meaning there is no usable token for the workspace (retrying cannot help). */
const NO_TOKEN_CODES = new Set(['SLACK_NOT_CONFIGURED', 'SLACK_NOT_INSTALLED', 'SLACK_INSTALLATION_UNREADABLE', 'SLACK_INSTALLATION_INVALID']);
/** How far back the search for a post that may have landed looks (before its attempt). */
const SEARCH_MARGIN_MS = 10 * 60_000;
const SEARCH_PAGES = 5;

interface SlackHistoryMessage {
  ts?: string;
  metadata?: { event_type?: string; event_payload?: Record<string, unknown> };
}

/**
 * Delivers one task to Slack: the status message (posted once, then updated in place at most once
 * per interval), the milestone replies and the final summary. One step at a time; a step does
 * whatever is due and says when to come back. Every post is recorded in Redis before and after it
 * is made (see `DeliveryStore`), so a later owner of the task posts nothing twice.
 */
export class TaskDelivery {
  readonly progress = new TaskProgress();
  /** Place in the queue while queued. */
  queuePosition: number | undefined;
  /** Summary posted and final state shown, or delivery stopped: `finish` may resolve. */
  done = false;
  private version = 0;
  private renderedVersion = -1;
  private finalRecord: TaskRecord | undefined;
  private token: string | undefined;
  private authRetried = false;
  private recorded = false;
  private statusGone = false;
  private released = false;
  private failures = 0;
  private notBefore = 0;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(
    private readonly deps: TaskDeliveryDeps,
    private task: TaskRecord,
    private readonly slack: SlackContext,
    private readonly state: DeliveryState,
    /** Work of an earlier delivery of the same task that must end first. */
    private previous: Promise<void> | undefined,
  ) {
    this.log = deps.logger.child({ taskId: task.id });
    if (state.stopped) this.done = true;
  }

  get taskId(): string {
    return this.task.id;
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
    if (this.done || this.progress.final || this.progress.state === 'queued') return false;
    if (this.state.renderedAt === 0 || now - this.state.renderedAt < ms) return false;
    this.version += 1;
    return true;
  }

  /** Runs a step now, unless one is running (it then runs again) or a retry is scheduled. */
  kick(): void {
    if (this.released || this.done) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (Date.now() < this.notBefore) return;
    this.clearTimer();
    this.running = this.loop().finally(() => {
      this.running = undefined;
      // a change that arrived as the loop was ending
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Stops for good; the step in progress ends after its current call. */
  release(): void {
    this.released = true;
    this.clearTimer();
  }

  /** Resolves once no step is running. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // timers may fire a little before Date.now() reaches their due time: the wait is over
      this.notBefore = 0;
      this.kick();
    }, Math.max(0, ms));
  }

  private async loop(): Promise<void> {
    if (this.previous) {
      await this.previous;
      this.previous = undefined;
    }
    for (;;) {
      this.again = false;
      let wait: number | undefined;
      try {
        wait = await this.step();
        this.failures = 0;
      } catch (err) {
        if (err instanceof AgentqError && err.code === RELEASED) return;
        const retryIn = await this.failed(err);
        if (retryIn !== undefined && !this.released && !this.done) {
          this.notBefore = Date.now() + retryIn;
          this.schedule(retryIn);
        }
        return;
      }
      if (this.released || this.done) return;
      if (this.again) continue;
      if (wait !== undefined) this.schedule(wait);
      return;
    }
  }

  private active(): void {
    if (this.released) throw new AgentqError(RELEASED, 'delivery released');
  }

  private owned(): void {
    this.active();
    if (!this.deps.owns(this.taskId)) throw new AgentqError(STALE, `claim on task ${this.taskId} is not fresh`);
  }

  /** Does what is due; returns when to come back (ms), or undefined when nothing is waiting. */
  private async step(): Promise<number | undefined> {
    if (this.state.stopped) {
      this.done = true;
      return undefined;
    }
    if (this.progress.final && !this.finalRecord) {
      this.finalRecord = (await this.deps.store.get(this.taskId)) ?? this.task;
      this.task = this.finalRecord;
    }
    if (!(await this.ensureStatus())) return undefined;
    for (const milestone of this.progress.milestones()) {
      await this.ensurePosted(milestone.kind, () => renderMilestone(milestone, this.task.repo));
    }
    let wait: number | undefined;
    if (this.needsRender()) {
      const due = this.state.renderedAt + this.deps.statusIntervalMs - Date.now();
      if (due > 0) wait = due;
      else await this.updateStatus();
    }
    if (this.progress.final && this.finalRecord) {
      const record = this.finalRecord;
      const posted = await this.ensurePosted('summary', () => renderSummary({ task: record, progress: this.progress, viewerUrl: this.deps.viewerUrl(this.taskId) }));
      if (posted === 'new') {
        this.deps.metrics.summaries.inc();
        this.log.info({ summaryTs: this.state.posted.get('summary') }, 'slack summary posted');
      }
      if (!this.needsRender()) {
        await this.deps.deliveries.expire(this.taskId, this.deps.deliveryTtlSec);
        this.done = true;
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
      const result = await this.ensurePosted('status', () => this.statusMessage());
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
      // first, so that it is set once the record says the thread exists; NX: a follow-up in the
      // thread may already point it at a newer task
      await this.deps.redis.set(this.deps.keys.slackThread(this.slack.teamId, this.slack.channel, statusTs), this.taskId, 'NX');
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

  private async client() {
    if (this.token === undefined) {
      try {
        this.token = await this.deps.resolveToken({ teamId: this.slack.teamId, enterpriseId: this.slack.enterpriseId });
      } catch (err) {
        // no token for this workspace (not installed, unreadable); anything else (Redis) is retried
        if (err instanceof AgentqError && (NO_TOKEN_CODES.has(err.code) || err.status < 500)) {
          throw new AgentqError('RELAY_SLACK_NO_TOKEN', err.message, { status: 404, cause: err, details: { resolverCode: err.code } });
        }
        throw err;
      }
    }
    return this.deps.clients.for(this.token);
  }

  private async call<T>(method: string, run: () => Promise<T>): Promise<T> {
    try {
      const result = await run();
      this.deps.metrics.calls.inc({ method, outcome: 'ok' });
      return result;
    } catch (err) {
      this.deps.metrics.calls.inc({ method, outcome: callOutcome(err) });
      throw err;
    }
  }

  private metadata(kind: MessageKind) {
    return { event_type: METADATA_EVENT_TYPE, event_payload: { taskId: this.taskId, kind } };
  }

  /**
   * Posts the message of `kind` unless it was posted. When an earlier attempt may have landed
   * without being recorded, the thread (or, for a thread's first message, the channel) is searched
   * for it by its metadata first. Returns `new` when this call posted it.
   */
  private async ensurePosted(kind: MessageKind, render: () => SlackMessage): Promise<'new' | 'existing'> {
    if (this.state.posted.has(kind)) return 'existing';
    const threadTs = kind === 'status' ? this.slack.threadTs : this.thread();
    const startsThread = kind === 'status' && threadTs === undefined;
    if (this.state.posting.has(kind)) {
      const found = await this.find(kind, threadTs);
      if (found) {
        this.owned();
        await this.deps.deliveries.posted(this.taskId, kind, found, startsThread ? found : undefined);
        this.state.posted.set(kind, found);
        if (startsThread) this.state.threadTs = found;
        this.log.info({ kind, ts: found }, 'slack message found in the thread; not posted again');
        return 'existing';
      }
    }
    this.owned();
    const at = Date.now();
    await this.deps.deliveries.posting(this.taskId, kind, at);
    this.state.posting.set(kind, at);
    const message = render();
    let ts: string;
    try {
      ts = await this.post(kind, threadTs, message);
    } catch (err) {
      if (classifySlackError(err) !== 'rejected') throw err;
      this.log.warn({ kind, code: 'RELAY_SLACK_MESSAGE_REJECTED', ...describeSlackError(err) }, 'slack refused a message; posting it as plain text');
      try {
        ts = await this.post(kind, threadTs, { text: message.text, blocks: [section(message.text)] });
      } catch (again) {
        if (classifySlackError(again) !== 'rejected') throw again;
        this.log.error({ kind, code: 'RELAY_SLACK_MESSAGE_REJECTED', ...describeSlackError(again) }, 'slack refused a message; skipped');
        ts = SKIPPED;
      }
    }
    await this.deps.deliveries.posted(this.taskId, kind, ts, startsThread && ts !== SKIPPED ? ts : undefined);
    this.state.posted.set(kind, ts);
    if (startsThread && ts !== SKIPPED) this.state.threadTs = ts;
    this.log.debug({ kind, ts }, 'slack message posted');
    return 'new';
  }

  private async post(kind: MessageKind, threadTs: string | undefined, message: SlackMessage): Promise<string> {
    const client = await this.client();
    this.active();
    const result = await this.call('chat.postMessage', () =>
      client.chat.postMessage({
        channel: this.slack.channel,
        ...(threadTs !== undefined ? { thread_ts: threadTs } : {}),
        text: message.text,
        blocks: message.blocks,
        metadata: this.metadata(kind),
        unfurl_links: false,
        unfurl_media: false,
      }),
    );
    if (typeof result.ts !== 'string') throw new AgentqError('RELAY_SLACK_BAD_REPLY', 'chat.postMessage answered without a ts');
    return result.ts;
  }

  /** The ts of this task's message of `kind` in the thread (or the channel), if it is there. */
  private async find(kind: MessageKind, threadTs: string | undefined): Promise<string | undefined> {
    const client = await this.client();
    this.active();
    const since = (this.state.posting.get(kind) ?? 0) - SEARCH_MARGIN_MS;
    const oldest = (Math.max(0, since) / 1000).toFixed(6);
    const matches = (m: SlackHistoryMessage) =>
      m.metadata?.event_type === METADATA_EVENT_TYPE && m.metadata.event_payload?.taskId === this.taskId && m.metadata.event_payload?.kind === kind;
    let cursor: string | undefined;
    try {
      for (let page = 0; page < SEARCH_PAGES; page++) {
        const result =
          threadTs !== undefined
            ? await this.call('conversations.replies', () =>
                client.conversations.replies({ channel: this.slack.channel, ts: threadTs, include_all_metadata: true, limit: 200, cursor }),
              )
            : await this.call('conversations.history', () =>
                client.conversations.history({ channel: this.slack.channel, oldest, include_all_metadata: true, limit: 200, cursor }),
              );
        const found = (result.messages as SlackHistoryMessage[] | undefined)?.find(matches);
        if (found?.ts) return found.ts;
        cursor = result.response_metadata?.next_cursor || undefined;
        if (!cursor) return undefined;
      }
    } catch (err) {
      const error = platformError(err);
      if (error === undefined || (classifySlackError(err) === 'auth' && error !== 'missing_scope')) throw err;
      this.log.warn({ kind, code: 'RELAY_SLACK_CHECK_UNAVAILABLE', slackError: error }, 'could not search the thread for an earlier post; posting');
    }
    return undefined;
  }

  private async updateStatus(): Promise<void> {
    const statusTs = this.state.posted.get('status');
    if (statusTs === undefined || statusTs === SKIPPED) return;
    const version = this.version;
    const seq = this.progress.seq;
    const message = this.statusMessage();
    const client = await this.client();
    this.owned();
    const update = (m: SlackMessage) =>
      this.call('chat.update', () =>
        client.chat.update({ channel: this.slack.channel, ts: statusTs, text: m.text, blocks: m.blocks, metadata: this.metadata('status') }),
      );
    try {
      await update(message);
    } catch (err) {
      const kind = classifySlackError(err);
      if (kind === 'gone') {
        this.statusGone = true;
        this.log.warn({ code: 'RELAY_SLACK_STATUS_GONE', ...describeSlackError(err) }, 'status message cannot be updated any more; updates stopped');
        return;
      }
      if (kind !== 'rejected') throw err;
      this.log.warn({ code: 'RELAY_SLACK_MESSAGE_REJECTED', ...describeSlackError(err) }, 'slack refused a status update; updating it as plain text');
      await update({ text: message.text, blocks: [section(message.text)] });
    }
    await this.rendered(version, seq);
  }

  /** Decides what a failed step means; returns when to try again, or undefined when stopped. */
  private async failed(err: unknown): Promise<number | undefined> {
    if (err instanceof AgentqError && err.code === STALE) return STALE_RETRY_MS;
    if (err instanceof AgentqError && err.code === 'RELAY_SLACK_NO_TOKEN') {
      await this.stop('RELAY_SLACK_NO_TOKEN', { error: err.message, ...err.details }, 'no slack token for the workspace; slack delivery stopped for this task');
      return undefined;
    }
    const kind = classifySlackError(err);
    if (kind === 'auth') {
      if (!this.authRetried) {
        // the app may have been installed again with a new token
        this.authRetried = true;
        const previous = this.token;
        this.token = undefined;
        try {
          await this.client();
        } catch {
          // decided on the next attempt
        }
        if (this.token !== undefined && this.token !== previous) return 0;
      }
      await this.stop('RELAY_SLACK_AUTH_FAILED', describeSlackError(err), 'slack refused the token; slack delivery stopped for this task');
      return undefined;
    }
    if (kind === 'channel') {
      await this.stop('RELAY_SLACK_CHANNEL_UNAVAILABLE', describeSlackError(err), 'slack channel cannot be posted to; slack delivery stopped for this task');
      return undefined;
    }
    this.failures += 1;
    const base = Math.min(this.deps.retryMaxMs, this.deps.retryBaseMs * 2 ** Math.min(this.failures - 1, 16));
    const retryInMs = Math.round(base * (0.75 + Math.random() * 0.5));
    const level = this.failures === 1 || this.failures % 10 === 0 ? 'warn' : 'debug';
    this.log[level]({ code: 'RELAY_SLACK_CALL_FAILED', retryInMs, failures: this.failures, ...describeSlackError(err) }, 'slack delivery failed; retrying');
    return retryInMs;
  }

  private async stop(code: string, fields: Record<string, unknown>, message: string): Promise<void> {
    this.state.stopped = code;
    this.done = true;
    this.deps.metrics.stopped.inc({ code });
    this.log.error({ code, ...fields }, message);
    try {
      await this.deps.deliveries.stopped(this.taskId, code);
      await this.deps.deliveries.expire(this.taskId, this.deps.deliveryTtlSec);
    } catch (err) {
      this.log.warn({ err, code: 'RELAY_SLACK_STATE_NOT_SAVED' }, 'could not record that slack delivery stopped');
    }
  }
}
