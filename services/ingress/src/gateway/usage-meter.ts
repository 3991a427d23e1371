import { StringDecoder } from 'node:string_decoder';
import type { CallUsage } from './model-prices.js';
import type { ProviderName } from './providers.js';

/** Largest non-streamed response body read for its usage (bigger ones pass, unmetered, and are logged). */
export const MAX_METERED_JSON_BYTES = 16 * 1024 * 1024;

/** What a response said about its model and tokens, once it ended. */
export interface MeteredCall {
  model: string | undefined;
  usage: CallUsage;
}

type Json = Record<string, unknown>;

const num = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0);
const obj = (value: unknown): Json | undefined => (value !== null && typeof value === 'object' ? (value as Json) : undefined);
const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/**
 * Reads the usage of one model call from its response as the chunks pass, without holding them
 * back: server-sent events line by line (Anthropic `message_start`/`message_delta`, OpenAI
 * `response.completed`, chat completion chunks), or a JSON body with `usage` at the end.
 */
export class UsageMeter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private jsonBytes = 0;
  private readonly jsonChunks: Buffer[] = [];
  private model: string | undefined;
  private readonly usage: CallUsage = { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 };
  private seen = false;
  /** A JSON body too large to read for its usage. */
  overflowed = false;

  constructor(
    private readonly provider: ProviderName,
    private readonly streamed: boolean,
  ) {}

  write(chunk: Buffer): void {
    if (!this.streamed) {
      this.jsonBytes += chunk.length;
      if (this.jsonBytes <= MAX_METERED_JSON_BYTES) this.jsonChunks.push(chunk);
      else this.overflowed = true;
      return;
    }
    const text = this.pending + this.decoder.write(chunk);
    let start = 0;
    for (let end = text.indexOf('\n', start); end !== -1; end = text.indexOf('\n', start)) {
      this.line(text, start, end);
      start = end + 1;
    }
    this.pending = text.slice(start);
  }

  /** The call's model and usage, or undefined when the response carried none. */
  end(): MeteredCall | undefined {
    if (this.streamed) {
      const rest = this.pending + this.decoder.end();
      if (rest !== '') this.line(rest, 0, rest.length);
    } else if (!this.overflowed && this.jsonChunks.length > 0) {
      try {
        const body = obj(JSON.parse(Buffer.concat(this.jsonChunks).toString('utf8')));
        if (body) this.readBody(body);
      } catch {
        // not JSON: nothing to meter
      }
    }
    return this.seen ? { model: this.model, usage: { ...this.usage } } : undefined;
  }

  private line(text: string, start: number, end: number): void {
    // only `data:` lines that mention usage are parsed; content deltas are skipped unread
    if (!text.startsWith('data:', start)) return;
    const data = text.slice(start + 5, end);
    if (!data.includes('"usage"') && !data.includes('"message_start"') && !data.includes('"model"')) return;
    let event: Json | undefined;
    try {
      event = obj(JSON.parse(data));
    } catch {
      return;
    }
    if (!event) return;
    switch (event.type) {
      case 'message_start':
        this.readBody(obj(event.message) ?? {});
        return;
      case 'message_delta':
        this.readAnthropic(obj(event.usage));
        return;
      case 'response.completed':
      case 'response.incomplete':
      case 'response.failed':
        this.readBody(obj(event.response) ?? {});
        return;
      default:
        // chat completions stream their usage in the last chunk
        if (event.object === 'chat.completion.chunk') this.readBody(event);
    }
  }

  /** A whole response (or message): its model and usage in either provider's words. */
  private readBody(body: Json): void {
    this.model = str(body.model) ?? this.model;
    const usage = obj(body.usage);
    if (!usage) return;
    if (this.provider === 'anthropic') this.readAnthropic(usage);
    else if ('prompt_tokens' in usage) {
      this.readOpenAi(num(usage.prompt_tokens), num(usage.completion_tokens), num(obj(usage.prompt_tokens_details)?.cached_tokens));
    } else this.readOpenAi(num(usage.input_tokens), num(usage.output_tokens), num(obj(usage.input_tokens_details)?.cached_tokens));
  }

  /** Anthropic counts are cumulative: the latest of each is the call's. */
  private readAnthropic(usage: Json | undefined): void {
    if (!usage) return;
    this.seen = true;
    if ('input_tokens' in usage) this.usage.input = Math.max(this.usage.input, num(usage.input_tokens));
    if ('output_tokens' in usage) this.usage.output = Math.max(this.usage.output, num(usage.output_tokens));
    if ('cache_read_input_tokens' in usage) this.usage.cacheRead = Math.max(this.usage.cacheRead, num(usage.cache_read_input_tokens));
    if ('cache_creation_input_tokens' in usage) this.usage.cacheWrite = Math.max(this.usage.cacheWrite, num(usage.cache_creation_input_tokens));
  }

  /** OpenAI counts the cached tokens inside the input tokens. */
  private readOpenAi(input: number, output: number, cached: number): void {
    this.seen = true;
    this.usage.cacheRead = Math.min(cached, input);
    this.usage.input = input - this.usage.cacheRead;
    this.usage.output = output;
  }
}
