import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';

/**
 * A scripted fake of the Anthropic Messages API for the real Claude Code CLI
 * (`ANTHROPIC_BASE_URL=<fake.url>`), listening on 127.0.0.1 only.
 *
 * A conversation request (a `POST /v1/messages` that carries `tools`) is answered with the scripted
 * turn whose index is the number of `tool_result` blocks in the request, so requests the CLI makes
 * on the side (titles, summaries: no tools) never consume the script; they get a short text.
 */

export type FakeBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id?: string; name: string; input: Record<string, unknown> };

export interface FakeTurn {
  content: FakeBlock[];
  usage?: { inputTokens: number; outputTokens: number };
}

/** What a scripted turn may look at: the request, and the working directory the CLI announced. */
export interface FakeTurnInput {
  body: Record<string, unknown>;
  /** From the environment section Claude Code sends ("Primary working directory: ..."). */
  cwd: string | undefined;
}

/** A turn, or a function of the request that makes one (e.g. to write into the CLI's cwd). */
export type ScriptedTurn = FakeTurn | ((input: FakeTurnInput) => FakeTurn);

/** What every request is answered with in error mode: an Anthropic error body with `status`. */
export interface FakeError {
  status: number;
  type: string;
  message: string;
}

export interface RecordedRequest {
  method: string;
  /** Path with the query string, e.g. `/v1/messages?beta=true`. */
  path: string;
  /** Request headers without the credentials (`x-api-key`, `authorization`). */
  headers: Record<string, string>;
  /** The `x-api-key` (or bearer token) the request carried. */
  credential: string | undefined;
  /** Parsed JSON body; the raw text when it is not JSON; undefined without a body. */
  body: unknown;
}

type Json = Record<string, unknown>;

const SECRET_HEADERS = new Set(['x-api-key', 'authorization']);

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function text(value: string): FakeBlock {
  return { type: 'text', text: value };
}

export function toolUse(name: string, input: Record<string, unknown>, id?: string): FakeBlock {
  return id === undefined ? { type: 'tool_use', name, input } : { type: 'tool_use', id, name, input };
}

/** Blocks of every message of a Messages API request body (string contents as one text block). */
function blocksOf(body: unknown): Json[] {
  if (!isObject(body) || !Array.isArray(body.messages)) return [];
  const out: Json[] = [];
  for (const message of body.messages) {
    if (!isObject(message)) continue;
    if (typeof message.content === 'string') out.push({ type: 'text', text: message.content, role: message.role });
    else if (Array.isArray(message.content)) {
      for (const block of message.content) if (isObject(block)) out.push({ ...block, role: message.role });
    }
  }
  return out;
}

/** Every text of a request body (system prompt and messages). */
function textsOf(body: unknown): string[] {
  if (!isObject(body)) return [];
  const out: string[] = [];
  if (typeof body.system === 'string') out.push(body.system);
  else if (Array.isArray(body.system)) {
    for (const block of body.system) if (isObject(block) && typeof block.text === 'string') out.push(block.text);
  }
  for (const block of blocksOf(body)) if (typeof block.text === 'string') out.push(block.text);
  return out;
}

/**
 * The working directory Claude Code announces in its environment section, if any. A resumed
 * session announces its new one later in the conversation, as `<new> (was <old>)`: the last
 * announcement wins.
 */
export function workingDirectory(body: unknown): string | undefined {
  let found: string | undefined;
  for (const value of textsOf(body)) {
    for (const match of value.matchAll(/Primary working directory: *(\S[^\n]*)/g)) {
      if (match[1]) found = match[1].replace(/ \(was [^\n]*\)$/, '').trim();
    }
  }
  return found;
}

function decode(raw: Buffer, encoding: string | undefined): string {
  switch (encoding) {
    case 'gzip':
      return gunzipSync(raw).toString('utf8');
    case 'deflate':
      return inflateSync(raw).toString('utf8');
    case 'br':
      return brotliDecompressSync(raw).toString('utf8');
    default:
      return raw.toString('utf8');
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const payload = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    'request-id': `req_fake_${Date.now().toString(36)}`,
  });
  res.end(payload);
}

function chunks(value: string, size: number): string[] {
  if (value.length === 0) return [''];
  const out: string[] = [];
  for (let i = 0; i < value.length; i += size) out.push(value.slice(i, i + size));
  return out;
}

export interface FakeAnthropicOptions {
  /**
   * Where the API is served, e.g. `/llm/anthropic` to stand in for the model gateway's Anthropic
   * route (`AGENTQ_GATEWAY_URL=<fake.url>`); other paths get 404. Recorded paths are without it.
   */
  prefix?: string;
}

/** Whether a request's credential may call the API (as the model gateway checks its tokens). */
export type Authorize = (credential: string | undefined) => boolean | Promise<boolean>;

export class FakeAnthropic {
  readonly requests: RecordedRequest[] = [];
  private turns: ScriptedTurn[] = [];
  private error: FakeError | undefined;
  private messageCount = 0;
  private authorizer: Authorize | undefined;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly prefix: string,
  ) {}

  static async start(options: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const fake = new FakeAnthropic(server, `http://127.0.0.1:${port}`, options.prefix ?? '');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      fake.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { type: 'error', error: { type: 'api_error', message: String(err) } });
        else res.destroy();
      });
    });
    return fake;
  }

  /** The turns the model plays, in order (turn i answers a conversation with i tool results). */
  script(turns: ScriptedTurn[]): this {
    this.turns = turns;
    return this;
  }

  /**
   * Answers every request with this error (undefined: back to the script). Claude Code 2.1 retries
   * 401, 429 and 5xx for minutes; 400 and 403 end the run at once.
   */
  failWith(error: FakeError | undefined): this {
    this.error = error;
    return this;
  }

  /** Answers requests whose credential `authorize` refuses with 401 (undefined: every credential is taken). */
  authorize(authorize: Authorize | undefined): this {
    this.authorizer = authorize;
    return this;
  }

  /** `POST /v1/messages` requests of the conversation (those carrying tools), in order. */
  conversationRequests(): RecordedRequest[] {
    return this.requests.filter(
      (r) => r.method === 'POST' && r.path.split('?')[0] === '/v1/messages' && isObject(r.body) && Array.isArray(r.body.tools),
    );
  }

  /** Text the user side of the conversation sent (prompts, reminders), from every conversation request. */
  userTexts(): string[] {
    return this.conversationRequests().flatMap((r) =>
      blocksOf(r.body)
        .filter((b) => b.role === 'user' && b.type === 'text' && typeof b.text === 'string')
        .map((b) => b.text as string),
    );
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw: Buffer[] = [];
    for await (const chunk of req) raw.push(chunk as Buffer);
    const encoding = req.headers['content-encoding'];
    const bodyText = raw.length > 0 ? decode(Buffer.concat(raw), typeof encoding === 'string' ? encoding : undefined) : '';
    let body: unknown;
    if (bodyText.length > 0) {
      try {
        body = JSON.parse(bodyText);
      } catch {
        body = bodyText;
      }
    }
    const headers: Record<string, string> = {};
    let credential: string | undefined;
    for (const [name, value] of Object.entries(req.headers)) {
      const joined = Array.isArray(value) ? value.join(', ') : (value ?? '');
      if (SECRET_HEADERS.has(name)) credential = joined.replace(/^Bearer\s+/i, '');
      else headers[name] = joined;
    }
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    if (!url.startsWith(`${this.prefix}/`)) {
      sendJson(res, 404, { type: 'error', error: { type: 'not_found_error', message: `fake-anthropic: ${url} is outside ${this.prefix}` } });
      return;
    }
    const path = url.slice(this.prefix.length);
    this.requests.push({ method, path, headers, credential, body });
    const pathname = path.split('?')[0] ?? '/';

    if (this.authorizer && !(await this.authorizer(credential))) {
      sendJson(res, 401, { type: 'error', error: { type: 'authentication_error', message: 'fake-anthropic: invalid credential' } });
      return;
    }
    if (this.error) {
      sendJson(res, this.error.status, { type: 'error', error: { type: this.error.type, message: this.error.message } });
      return;
    }
    if (method === 'POST' && pathname === '/v1/messages') {
      this.messages(body, res);
      return;
    }
    if (method === 'POST' && pathname === '/v1/messages/count_tokens') {
      sendJson(res, 200, { input_tokens: Math.max(1, Math.ceil(bodyText.length / 4)) });
      return;
    }
    const model = /^\/v1\/models\/([^/]+)$/.exec(pathname);
    if (method === 'GET' && model?.[1]) {
      sendJson(res, 200, this.modelInfo(decodeURIComponent(model[1])));
      return;
    }
    if (method === 'GET' && pathname === '/v1/models') {
      const info = this.modelInfo('claude-fake-1');
      sendJson(res, 200, { data: [info], has_more: false, first_id: info.id, last_id: info.id });
      return;
    }
    if (pathname === '/api/hello') {
      res.writeHead(200).end();
      return;
    }
    sendJson(res, 404, { type: 'error', error: { type: 'not_found_error', message: `fake-anthropic: no route ${method} ${pathname}` } });
  }

  private modelInfo(id: string): Json {
    return { type: 'model', id, display_name: id, created_at: '2025-01-01T00:00:00Z' };
  }

  private messages(body: unknown, res: ServerResponse): void {
    if (!isObject(body)) {
      sendJson(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'fake-anthropic: body must be a JSON object' } });
      return;
    }
    const model = typeof body.model === 'string' ? body.model : 'claude-fake-1';
    let turn: FakeTurn;
    if (Array.isArray(body.tools)) {
      const toolResults = blocksOf(body).filter((b) => b.type === 'tool_result').length;
      const scripted = this.turns[toolResults];
      if (!scripted) {
        sendJson(res, 400, {
          type: 'error',
          error: { type: 'invalid_request_error', message: `fake-anthropic: no scripted turn after ${toolResults} tool results` },
        });
        return;
      }
      turn = typeof scripted === 'function' ? scripted({ body, cwd: workingDirectory(body) }) : scripted;
    } else {
      turn = { content: [text('OK')] };
    }
    const n = ++this.messageCount;
    const content = turn.content.map((block, i) =>
      block.type === 'tool_use' ? { ...block, id: block.id ?? `toolu_fake_${n}_${i}` } : block,
    );
    const stopReason = content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn';
    const inputTokens = turn.usage?.inputTokens ?? 100;
    const outputTokens = turn.usage?.outputTokens ?? 20;
    const message = { id: `msg_fake_${n}`, type: 'message', role: 'assistant', model };
    if (body.stream !== true) {
      sendJson(res, 200, {
        ...message,
        content,
        stop_reason: stopReason,
        stop_sequence: null,
        usage: { input_tokens: inputTokens, output_tokens: outputTokens },
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (event: string, data: Json) => res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`);
    send('message_start', {
      message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: inputTokens, output_tokens: 1 } },
    });
    send('ping', {});
    content.forEach((block, index) => {
      if (block.type === 'text') {
        send('content_block_start', { index, content_block: { type: 'text', text: '' } });
        for (const part of chunks(block.text, 24)) send('content_block_delta', { index, delta: { type: 'text_delta', text: part } });
      } else {
        send('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
        for (const part of chunks(JSON.stringify(block.input), 32)) {
          send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: part } });
        }
      }
      send('content_block_stop', { index });
    });
    send('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: outputTokens } });
    send('message_stop', {});
    res.end();
  }
}
