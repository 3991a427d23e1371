import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, listenOnLoopback } from './loopback-server.js';

/** One call the fake received. */
export interface SlackCall {
  method: string;
  /** Form fields or JSON body, JSON-valued fields (blocks, metadata…) parsed. */
  args: Record<string, unknown>;
  token: string | undefined;
  at: number;
  /** The HTTP status answered. */
  status: number;
}

export interface FakeSlackMessage {
  channel: string;
  ts: string;
  thread_ts?: string;
  text?: string;
  blocks?: unknown;
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
  user?: string;
  bot_id?: string;
  edited?: number;
}

export interface SlackFailure {
  /** Web API method to fail, or every method when unset. */
  method?: string;
  status: 429 | 500 | 502 | 503;
  /** Seconds, for 429. */
  retryAfter?: number;
  /** How many calls to fail. */
  count: number;
}

export interface FakeSlackOptions {
  /** Tokens accepted; any token when unset. */
  tokens?: string[];
  teamId?: string;
  botUserId?: string;
  /** What oauth.v2.access hands out (the install flow). */
  installation?: { accessToken: string; teamId: string; teamName?: string; enterpriseId?: string; userId?: string };
}

/**
 * A fake Slack Web API on 127.0.0.1 that the real `@slack/web-api` client talks to through its
 * `slackApiUrl` option: it keeps the messages posted and updated, records every call, and can
 * answer 429 with `Retry-After` or 5xx on demand. `responseUrl(id)` gives URLs for slash command
 * `response_url`s, whose posts are recorded as method `response_url`.
 */
export class FakeSlack {
  readonly calls: SlackCall[] = [];
  readonly messages: FakeSlackMessage[] = [];
  private readonly failures: SlackFailure[] = [];
  private server: Server | undefined;
  private clock = 1_800_000_000;
  private seq = 0;
  url = '';
  /** The Web API base URL to configure (`SLACK_API_URL`). */
  apiUrl = '';

  constructor(private readonly options: FakeSlackOptions = {}) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.url = await listenOnLoopback(this.server);
    this.apiUrl = `${this.url}/api/`;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    const server = this.server;
    this.server = undefined;
    await closeServer(server);
  }

  responseUrl(id: string): string {
    return `${this.url}/response/${encodeURIComponent(id)}`;
  }

  /** Fails the next `count` calls (of `method`, or of any method). */
  fail(failure: SlackFailure): void {
    this.failures.push({ ...failure });
  }

  /** Calls of one method that were answered ok (status 200). */
  succeeded(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method && c.status === 200);
  }

  /** Messages of a thread (the root included), oldest first. */
  thread(channel: string, threadTs: string): FakeSlackMessage[] {
    return this.messages.filter((m) => m.channel === channel && (m.ts === threadTs || m.thread_ts === threadTs));
  }

  private nextTs(): string {
    this.seq += 1;
    return `${this.clock}.${String(this.seq).padStart(6, '0')}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const args = parseBody(raw, req.headers['content-type']);
    const auth = req.headers.authorization;
    const token = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : (args.token as string | undefined);
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };

    if (path.startsWith('/response/')) {
      this.calls.push({ method: 'response_url', args: { ...args, id: decodeURIComponent(path.slice(10)) }, token, at: Date.now(), status: 200 });
      return send(200, { ok: true });
    }
    if (!path.startsWith('/api/')) return send(404, { ok: false, error: 'unknown_path' });
    const method = path.slice(5);
    const call: SlackCall = { method, args, token, at: Date.now(), status: 200 };
    this.calls.push(call);

    const failure = this.failures.find((f) => f.count > 0 && (f.method === undefined || f.method === method));
    if (failure) {
      failure.count -= 1;
      call.status = failure.status;
      if (failure.status === 429) return send(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(failure.retryAfter ?? 1) });
      return send(failure.status, { ok: false, error: 'internal_error' });
    }
    if (method !== 'oauth.v2.access' && this.options.tokens && (!token || !this.options.tokens.includes(token))) {
      return send(200, { ok: false, error: 'invalid_auth' });
    }
    send(200, this.answer(method, args));
  }

  private answer(method: string, args: Record<string, unknown>): Record<string, unknown> {
    const teamId = this.options.teamId ?? 'T0FAKE';
    const botUserId = this.options.botUserId ?? 'U0AGENTQ';
    switch (method) {
      case 'auth.test':
        return { ok: true, url: 'https://fake.slack.test/', team: 'Fake', user: 'agentq', team_id: teamId, user_id: botUserId, bot_id: 'B0AGENTQ', is_enterprise_install: false };
      case 'chat.postMessage': {
        const message: FakeSlackMessage = {
          channel: String(args.channel),
          ts: this.nextTs(),
          text: args.text as string | undefined,
          blocks: args.blocks,
          bot_id: 'B0AGENTQ',
          user: botUserId,
        };
        if (args.thread_ts) message.thread_ts = String(args.thread_ts);
        if (args.metadata) message.metadata = args.metadata as FakeSlackMessage['metadata'];
        this.messages.push(message);
        return { ok: true, channel: message.channel, ts: message.ts, message };
      }
      case 'chat.update': {
        const message = this.messages.find((m) => m.channel === args.channel && m.ts === args.ts);
        if (!message) return { ok: false, error: 'message_not_found' };
        if (args.text !== undefined) message.text = args.text as string;
        if (args.blocks !== undefined) message.blocks = args.blocks;
        if (args.metadata !== undefined) message.metadata = args.metadata as FakeSlackMessage['metadata'];
        message.edited = (message.edited ?? 0) + 1;
        return { ok: true, channel: message.channel, ts: message.ts, text: message.text };
      }
      case 'chat.postEphemeral':
        return { ok: true, message_ts: this.nextTs() };
      case 'chat.getPermalink':
        return { ok: true, channel: args.channel, permalink: `https://fake.slack.test/archives/${String(args.channel)}/p${String(args.message_ts).replace('.', '')}` };
      case 'conversations.replies': {
        const messages = this.thread(String(args.channel), String(args.ts));
        return { ok: true, messages, has_more: false };
      }
      case 'conversations.history': {
        // the channel's own messages (thread replies excluded), newest first; `oldest` and paging are ignored
        const messages = this.messages
          .filter((m) => m.channel === String(args.channel) && (m.thread_ts === undefined || m.thread_ts === m.ts))
          .reverse();
        return { ok: true, messages, has_more: false };
      }
      case 'oauth.v2.access': {
        const inst = this.options.installation ?? { accessToken: 'xoxb-installed-token', teamId };
        return {
          ok: true,
          app_id: 'A0AGENTQ',
          authed_user: { id: inst.userId ?? 'U0INSTALLER' },
          scope: 'commands,chat:write,app_mentions:read',
          token_type: 'bot',
          access_token: inst.accessToken,
          bot_user_id: botUserId,
          team: { id: inst.teamId, name: inst.teamName ?? 'Fake' },
          enterprise: inst.enterpriseId ? { id: inst.enterpriseId, name: 'Fake Enterprise' } : null,
          is_enterprise_install: false,
        };
      }
      default:
        return { ok: true };
    }
  }
}

function parseBody(raw: string, contentType: string | string[] | undefined): Record<string, unknown> {
  if (raw.length === 0) return {};
  const type = String(contentType ?? '');
  const out: Record<string, unknown> = {};
  if (type.includes('application/json')) {
    try {
      return JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return { _raw: raw };
    }
  }
  for (const [key, value] of new URLSearchParams(raw)) {
    if (value.startsWith('{') || value.startsWith('[')) {
      try {
        out[key] = JSON.parse(value);
        continue;
      } catch {
        // a plain string that happens to start with a bracket
      }
    }
    out[key] = value;
  }
  return out;
}

/** Headers Slack sends with a request: `X-Slack-Signature` over `v0:<timestamp>:<body>`. */
export function slackSignatureHeaders(signingSecret: string, body: string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  const signature = createHmac('sha256', signingSecret).update(`v0:${timestamp}:${body}`).digest('hex');
  return { 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': `v0=${signature}` };
}
