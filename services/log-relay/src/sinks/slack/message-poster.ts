import type { Logger, SlackContext } from '@agentq/shared';
import { RelayError, type RelayErrorCode } from '../../relay-errors.js';
import { SKIPPED, type DeliveryState, type DeliveryStore } from './delivery-state.js';
import { section, type SlackMessage } from './render/blocks.js';
import type { SlackClients } from './slack-clients.js';
import { callOutcome, classifySlackError, describeSlackError, platformError } from './slack-errors.js';
import type { SlackMetrics } from './slack-metrics.js';
import type { MessageKind } from './task-progress.js';
import type { WorkspaceToken } from './workspace-token.js';

/** `event_type` of the metadata on every message the sink posts. */
export const METADATA_EVENT_TYPE = 'agentq_task';

/** How far back the search for a post that may have landed looks (before its attempt). */
const SEARCH_MARGIN_MS = 10 * 60_000;
const SEARCH_PAGES = 5;

interface SlackHistoryMessage {
  ts?: string;
  metadata?: { event_type?: string; event_payload?: Record<string, unknown> };
}

export interface MessagePosterDeps {
  taskId: string;
  slack: SlackContext;
  state: DeliveryState;
  deliveries: DeliveryStore;
  clients: SlackClients;
  token: WorkspaceToken;
  metrics: SlackMetrics;
  log: Logger;
  /** Throws once the relay let go of the task. */
  active(): void;
  /** Throws unless the relay may write for the task now. */
  owned(): void;
}

/**
 * Posts one task's messages without duplicates. Every post is recorded in the delivery state before
 * (`posting`) and after (`posted`) it is made; a post recorded as attempted but not as made may
 * have landed, so the thread (or the channel, for a thread's first message) is searched for it by
 * its metadata before it is posted again. A message Slack refuses for its content is posted once
 * more as plain text, then skipped.
 */
export class MessagePoster {
  constructor(private readonly deps: MessagePosterDeps) {}

  /**
   * Posts the message of `kind` in `threadTs` (undefined: a new channel message that starts the
   * task's thread) unless it was posted. Returns `new` when this call posted it.
   */
  async ensurePosted(kind: MessageKind, threadTs: string | undefined, render: () => SlackMessage): Promise<'new' | 'existing'> {
    const { state, deliveries, taskId, log } = this.deps;
    if (state.posted.has(kind)) return 'existing';
    const startsThread = threadTs === undefined;
    if (state.posting.has(kind)) {
      const found = await this.find(kind, threadTs);
      if (found) {
        this.deps.owned();
        await deliveries.posted(taskId, kind, found, startsThread ? found : undefined);
        state.posted.set(kind, found);
        if (startsThread) state.threadTs = found;
        log.info({ kind, ts: found }, 'slack message found in the thread; not posted again');
        return 'existing';
      }
    }
    this.deps.owned();
    const at = Date.now();
    await deliveries.posting(taskId, kind, at);
    state.posting.set(kind, at);
    const message = render();
    let ts: string;
    try {
      ts = await this.post(kind, threadTs, message);
    } catch (err) {
      if (classifySlackError(err) !== 'rejected') throw err;
      log.warn({ kind, code: 'RELAY_SLACK_MESSAGE_REJECTED' satisfies RelayErrorCode, ...describeSlackError(err) }, 'slack refused a message; posting it as plain text');
      try {
        ts = await this.post(kind, threadTs, plainText(message));
      } catch (again) {
        if (classifySlackError(again) !== 'rejected') throw again;
        log.error({ kind, code: 'RELAY_SLACK_MESSAGE_REJECTED' satisfies RelayErrorCode, ...describeSlackError(again) }, 'slack refused a message; skipped');
        ts = SKIPPED;
      }
    }
    await deliveries.posted(taskId, kind, ts, startsThread && ts !== SKIPPED ? ts : undefined);
    state.posted.set(kind, ts);
    if (startsThread && ts !== SKIPPED) state.threadTs = ts;
    log.debug({ kind, ts }, 'slack message posted');
    return 'new';
  }

  /**
   * Updates the message at `ts` (as plain text when Slack refuses its blocks). `gone` when the
   * message cannot be updated any more (deleted).
   */
  async update(ts: string, message: SlackMessage): Promise<'updated' | 'gone'> {
    const client = this.deps.clients.for(await this.deps.token.get());
    this.deps.owned();
    const update = (m: SlackMessage) =>
      this.call('chat.update', () =>
        client.chat.update({ channel: this.deps.slack.channel, ts, text: m.text, blocks: m.blocks, metadata: this.metadata('status') }),
      );
    try {
      await update(message);
    } catch (err) {
      const kind = classifySlackError(err);
      if (kind === 'gone') {
        this.deps.log.warn({ code: 'RELAY_SLACK_STATUS_GONE' satisfies RelayErrorCode, ...describeSlackError(err) }, 'status message cannot be updated any more; updates stopped');
        return 'gone';
      }
      if (kind !== 'rejected') throw err;
      this.deps.log.warn({ code: 'RELAY_SLACK_MESSAGE_REJECTED' satisfies RelayErrorCode, ...describeSlackError(err) }, 'slack refused a status update; updating it as plain text');
      await update(plainText(message));
    }
    return 'updated';
  }

  private metadata(kind: MessageKind) {
    return { event_type: METADATA_EVENT_TYPE, event_payload: { taskId: this.deps.taskId, kind } };
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

  private async post(kind: MessageKind, threadTs: string | undefined, message: SlackMessage): Promise<string> {
    const client = this.deps.clients.for(await this.deps.token.get());
    this.deps.active();
    const result = await this.call('chat.postMessage', () =>
      client.chat.postMessage({
        channel: this.deps.slack.channel,
        ...(threadTs !== undefined ? { thread_ts: threadTs } : {}),
        text: message.text,
        blocks: message.blocks,
        metadata: this.metadata(kind),
        unfurl_links: false,
        unfurl_media: false,
      }),
    );
    if (typeof result.ts !== 'string') throw new RelayError('RELAY_SLACK_BAD_REPLY', 'chat.postMessage answered without a ts');
    return result.ts;
  }

  /** The ts of this task's message of `kind` in the thread (or the channel), if it is there. */
  private async find(kind: MessageKind, threadTs: string | undefined): Promise<string | undefined> {
    const { channel } = this.deps.slack;
    const client = this.deps.clients.for(await this.deps.token.get());
    this.deps.active();
    const since = (this.deps.state.posting.get(kind) ?? 0) - SEARCH_MARGIN_MS;
    const oldest = (Math.max(0, since) / 1000).toFixed(6);
    const matches = (m: SlackHistoryMessage) =>
      m.metadata?.event_type === METADATA_EVENT_TYPE && m.metadata.event_payload?.taskId === this.deps.taskId && m.metadata.event_payload?.kind === kind;
    let cursor: string | undefined;
    try {
      for (let page = 0; page < SEARCH_PAGES; page++) {
        const result =
          threadTs !== undefined
            ? await this.call('conversations.replies', () =>
                client.conversations.replies({ channel, ts: threadTs, include_all_metadata: true, limit: 200, cursor }),
              )
            : await this.call('conversations.history', () =>
                client.conversations.history({ channel, oldest, include_all_metadata: true, limit: 200, cursor }),
              );
        const found = (result.messages as SlackHistoryMessage[] | undefined)?.find(matches);
        if (found?.ts) return found.ts;
        cursor = result.response_metadata?.next_cursor || undefined;
        if (!cursor) return undefined;
      }
    } catch (err) {
      const error = platformError(err);
      if (error === undefined || (classifySlackError(err) === 'auth' && error !== 'missing_scope')) throw err;
      this.deps.log.warn({ kind, code: 'RELAY_SLACK_CHECK_UNAVAILABLE' satisfies RelayErrorCode, slackError: error }, 'could not search the thread for an earlier post; posting');
    }
    return undefined;
  }
}

/** The message as one plain text section (what Slack accepts when it refuses the blocks). */
function plainText(message: SlackMessage): SlackMessage {
  return { text: message.text, blocks: [section(message.text)] };
}
