import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { closeServer, listenOnLoopback } from './loopback-server.js';

/** A call the fake model API received. */
export interface ModelApiCall {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An answer of the fake: status, headers and the body in chunks, each sent after `before(i)` resolves. */
export interface ScriptedAnswer {
  status?: number;
  headers?: Record<string, string>;
  chunks: string[];
  /** Awaited before chunk `i` is written (to pace a stream). */
  before?: (i: number) => Promise<void>;
}

export const MODEL_API_REQUEST_ID = 'req_011CTestRequestId';

/** An Anthropic Messages stream as the API sends it, with its usage in `message_start` and `message_delta`. */
export function anthropicStream(options: { model?: string; text?: string[]; input?: number; output?: number; cacheRead?: number; cacheWrite?: number } = {}): string[] {
  const model = options.model ?? 'claude-sonnet-4-5-20250929';
  const text = options.text ?? ['Hello', ' world'];
  const event = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
  return [
    event('message_start', {
      type: 'message_start',
      message: {
        id: 'msg_01Test', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null,
        usage: { input_tokens: options.input ?? 1000, cache_creation_input_tokens: options.cacheWrite ?? 2000, cache_read_input_tokens: options.cacheRead ?? 30000, output_tokens: 1 },
      },
    }),
    event('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    event('ping', { type: 'ping' }),
    ...text.map((t) => event('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } })),
    event('content_block_stop', { type: 'content_block_stop', index: 0 }),
    event('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: options.output ?? 500 } }),
    event('message_stop', { type: 'message_stop' }),
  ];
}

/** A non-streamed Anthropic message. */
export function anthropicMessage(options: { model?: string; text?: string; input?: number; output?: number; cacheRead?: number; cacheWrite?: number } = {}): string {
  return JSON.stringify({
    id: 'msg_01Test', type: 'message', role: 'assistant', model: options.model ?? 'claude-sonnet-4-5-20250929',
    content: [{ type: 'text', text: options.text ?? 'Hello world' }], stop_reason: 'end_turn', stop_sequence: null,
    usage: { input_tokens: options.input ?? 1000, cache_creation_input_tokens: options.cacheWrite ?? 0, cache_read_input_tokens: options.cacheRead ?? 0, output_tokens: options.output ?? 500 },
  });
}

const openAiUsage = (input: number, output: number, cached: number) => ({
  input_tokens: input, input_tokens_details: { cached_tokens: cached }, output_tokens: output, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: input + output,
});

/** An OpenAI Responses stream: `response.created`, text deltas, `response.completed` with the usage. */
export function openAiStream(options: { model?: string; text?: string[]; input?: number; output?: number; cached?: number } = {}): string[] {
  const model = options.model ?? 'gpt-5-2025-08-07';
  const response = { id: 'resp_1', object: 'response', created_at: 1, model, status: 'in_progress', output: [] as unknown[], usage: null as unknown };
  const event = (data: Record<string, unknown>) => `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;
  const text = options.text ?? ['Hello', ' world'];
  return [
    event({ type: 'response.created', sequence_number: 0, response }),
    ...text.map((delta, i) => event({ type: 'response.output_text.delta', sequence_number: i + 1, item_id: 'msg_1', output_index: 0, content_index: 0, delta })),
    event({
      type: 'response.completed',
      sequence_number: text.length + 1,
      response: { ...response, status: 'completed', usage: openAiUsage(options.input ?? 1000, options.output ?? 500, options.cached ?? 0) },
    }),
  ];
}

/** A non-streamed OpenAI response. */
export function openAiResponse(options: { model?: string; input?: number; output?: number; cached?: number } = {}): string {
  return JSON.stringify({
    id: 'resp_1', object: 'response', created_at: 1, model: options.model ?? 'gpt-5-2025-08-07', status: 'completed',
    output: [{ type: 'message', id: 'msg_1', role: 'assistant', content: [{ type: 'output_text', text: 'Hello world' }] }],
    usage: openAiUsage(options.input ?? 1000, options.output ?? 500, options.cached ?? 0),
  });
}

/**
 * A local fake of the Anthropic Messages and OpenAI Responses APIs: it records every call and
 * answers from a script (`answer`), or by default with a short message shaped by the request.
 */
export class FakeModelApi {
  readonly calls: ModelApiCall[] = [];
  answer: ((call: ModelApiCall) => ScriptedAnswer) | undefined;
  /** Called when the connection of an answer closes before the answer was sent whole. */
  onClose: (() => void) | undefined;
  private readonly server: Server;
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const call: ModelApiCall = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        this.calls.push(call);
        void this.reply(res, (this.answer ?? defaultAnswer)(call));
      });
    });
  }

  async start(): Promise<string> {
    this.url = await listenOnLoopback(this.server);
    return this.url;
  }

  stop(): Promise<void> {
    return closeServer(this.server);
  }

  private async reply(res: ServerResponse, answer: ScriptedAnswer): Promise<void> {
    res.on('close', () => {
      if (!res.writableFinished) this.onClose?.();
    });
    res.writeHead(answer.status ?? 200, { 'request-id': MODEL_API_REQUEST_ID, ...answer.headers });
    res.flushHeaders();
    for (const [i, chunk] of answer.chunks.entries()) {
      await answer.before?.(i);
      if (res.destroyed) return;
      res.write(chunk);
    }
    res.end();
  }
}

function defaultAnswer(call: ModelApiCall): ScriptedAnswer {
  let streamed = false;
  try {
    streamed = (JSON.parse(call.body) as { stream?: boolean }).stream === true;
  } catch {
    // not JSON
  }
  const openai = call.url.includes('/responses');
  if (streamed) return { headers: { 'content-type': 'text/event-stream; charset=utf-8' }, chunks: openai ? openAiStream() : anthropicStream() };
  return { headers: { 'content-type': 'application/json' }, chunks: [openai ? openAiResponse() : anthropicMessage()] };
}
