import type { Logger } from '@agentq/shared';
import { ReceiverMultipleAckError, verifySlackRequest, type App, type Receiver, type ReceiverEvent } from '@slack/bolt';
import { slackBodyProblem, type SLACK_LOG_CODES } from './slack-request-shape.js';

const MALFORMED: keyof typeof SLACK_LOG_CODES = 'SLACK_REQUEST_MALFORMED';

/** Slack's limit on the age of a request: older (or that far in the future) is refused. */
export const SIGNATURE_WINDOW_SEC = 5 * 60;

export interface SlackHttpRequest {
  /** The body exactly as received: the signature covers these bytes. */
  rawBody: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface SlackHttpResponse {
  status: number;
  body: string;
  contentType?: string;
}

export interface SlackReceiverOptions {
  signingSecret: string;
  logger: Logger;
  /** Answer to a request Bolt failed on before it was acknowledged (a slash command or button); undefined: 500. */
  failureAnswer?: (body: Record<string, unknown>, err: unknown) => unknown;
  now?: () => number;
}

function header(headers: SlackHttpRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function asResponse(answer: unknown): SlackHttpResponse {
  if (answer === undefined || answer === null || answer === '') return { status: 200, body: '' };
  if (typeof answer === 'string') return { status: 200, body: answer, contentType: 'text/plain; charset=utf-8' };
  return { status: 200, body: JSON.stringify(answer), contentType: 'application/json; charset=utf-8' };
}

/** A form-encoded body (slash commands; interactions carry their JSON in `payload`) or a JSON one (events). */
export function parseSlackBody(rawBody: string, contentType: string | undefined): Record<string, unknown> {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') {
    const form = new URLSearchParams(rawBody);
    const payload = form.get('payload');
    if (payload !== null) return JSON.parse(payload) as Record<string, unknown>;
    return Object.fromEntries(form);
  }
  const parsed: unknown = JSON.parse(rawBody);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new SyntaxError('not a JSON object');
  return parsed as Record<string, unknown>;
}

/**
 * A Bolt receiver fed by the ingress HTTP server (`POST /slack/events`): it checks each request's
 * signature with Bolt's `verifySlackRequest`, answers Slack's `ssl_check` and `url_verification`
 * itself, acknowledges (200, logged as `SLACK_REQUEST_MALFORMED`) a body that is not a command,
 * interaction or event callback of the expected shape, and hands everything else to the Bolt app.
 *
 * The acknowledgement is the HTTP response. Slash commands and interactions are answered as
 * soon as the listener acknowledges (it may go on working afterwards). Events API callbacks,
 * which Bolt acknowledges before running listeners, are answered once the listeners are done,
 * so a callback whose work failed gets a 500 and Slack delivers it again.
 */
export class SlackReceiver implements Receiver {
  private bolt: App | undefined;
  private readonly now: () => number;

  constructor(private readonly options: SlackReceiverOptions) {
    this.now = options.now ?? Date.now;
  }

  init(app: App): void {
    this.bolt = app;
  }

  /** The ingress HTTP server is started elsewhere; nothing to start here. */
  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  /** Verifies the signature: undefined when valid, else why not (for the debug log only). */
  verify(request: SlackHttpRequest): string | undefined {
    const signature = header(request.headers, 'x-slack-signature');
    const timestamp = Number(header(request.headers, 'x-slack-request-timestamp'));
    if (!signature || !Number.isInteger(timestamp)) return 'missing signature headers';
    const nowMs = this.now();
    if (timestamp > nowMs / 1000 + SIGNATURE_WINDOW_SEC) return 'timestamp in the future';
    try {
      verifySlackRequest({
        signingSecret: this.options.signingSecret,
        body: request.rawBody,
        headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp },
        nowMilliseconds: nowMs,
      });
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  async handle(request: SlackHttpRequest): Promise<SlackHttpResponse> {
    const { logger } = this.options;
    let body: Record<string, unknown> | undefined;
    try {
      body = parseSlackBody(request.rawBody, header(request.headers, 'content-type'));
    } catch {
      body = undefined;
    }
    // Slack's certificate check of a slash command URL: answered like Bolt does, before the signature
    if (body?.ssl_check !== undefined) return { status: 200, body: '' };
    const refused = this.verify(request);
    if (refused !== undefined) {
      logger.info({ reason: refused }, 'slack request refused: bad signature');
      return {
        status: 401,
        body: JSON.stringify({ error: { code: 'INGRESS_UNAUTHORIZED', message: 'invalid or stale Slack request signature' } }),
        contentType: 'application/json; charset=utf-8',
      };
    }
    if (body === undefined) {
      logger.warn({ code: MALFORMED, reason: 'body is not JSON or a form' }, 'slack request not understood; acknowledged, nothing done');
      return { status: 200, body: '' };
    }
    if (body.type === 'url_verification') return asResponse({ challenge: typeof body.challenge === 'string' ? body.challenge : '' });
    // a signed request of the wrong shape will never succeed: acknowledged (else Slack sends it again and again), never handed to Bolt
    const problem = slackBodyProblem(body);
    if (problem !== undefined) {
      logger.warn({ code: MALFORMED, reason: problem }, 'slack request not understood; acknowledged, nothing done');
      return { status: 200, body: '' };
    }
    if (!this.bolt) throw new Error('the Slack receiver is not attached to a Bolt app');

    let acked: { answer: unknown } | undefined;
    let onAck: () => void = () => {};
    const ackedSignal = new Promise<void>((resolve) => {
      onAck = resolve;
    });
    const retryNum = Number(header(request.headers, 'x-slack-retry-num'));
    const event: ReceiverEvent = {
      body,
      ack: async (answer?: unknown) => {
        if (acked) throw new ReceiverMultipleAckError();
        acked = { answer };
        onAck();
      },
      retryNum: Number.isInteger(retryNum) ? retryNum : undefined,
      retryReason: header(request.headers, 'x-slack-retry-reason'),
      customProperties: {},
    };
    const processing = this.bolt.processEvent(event).then(
      () => ({ failed: false as const }),
      (err: unknown) => ({ failed: true as const, err }),
    );

    if (body.type === 'event_callback') {
      const outcome = await processing;
      if (outcome.failed) {
        logger.warn({ eventId: body.event_id, retryNum: event.retryNum }, 'slack event failed; slack will deliver it again');
        return { status: 500, body: '' };
      }
      return asResponse(acked?.answer);
    }

    const first = await Promise.race([ackedSignal.then(() => undefined), processing]);
    if (acked) {
      void processing.then((outcome) => {
        if (outcome.failed) logger.warn({ type: body.type ?? 'command' }, 'slack request failed after it was acknowledged');
      });
      return asResponse(acked.answer);
    }
    if (first?.failed) {
      const answer = this.options.failureAnswer?.(body, first.err);
      return answer === undefined ? { status: 500, body: '' } : asResponse(answer);
    }
    // no listener took it (an unknown command or action)
    return { status: 404, body: '' };
  }
}
