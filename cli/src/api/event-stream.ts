import { retryDelay, type AgentEvent } from '@agentq/shared';
import { createParser } from 'eventsource-parser';
import { isFinal } from '../exit-codes.js';
import { isAbort, type ApiClient } from './api-client.js';
import { CliError } from './cli-error.js';

export type StateEvent = Extract<AgentEvent, { kind: 'task.state' }>;

export interface FollowHandlers {
  onEvent(event: AgentEvent): void;
  /** The stream is open (again). */
  onConnected?(info: { reconnected: boolean }): void;
  /** The stream dropped; the next attempt comes after `delayMs`. */
  onReconnect?(info: { attempt: number; delayMs: number; reason: string }): void;
}

export interface FollowOptions {
  /** Events up to this seq are known already. */
  afterSeq?: number;
  signal?: AbortSignal;
  /** Give up when no connection could be made for this long. */
  giveUpMs?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
}

export interface FollowResult {
  lastSeq: number;
  final: StateEvent;
}

/**
 * Follows a task's event stream (SSE) until its final `task.state` event. A dropped connection
 * is reopened with `Last-Event-ID` set to the last seq seen, so no event is lost or shown twice.
 */
export async function followEvents(
  client: ApiClient,
  taskId: string,
  handlers: FollowHandlers,
  options: FollowOptions = {},
): Promise<FollowResult> {
  const giveUpMs = options.giveUpMs ?? 120_000;
  const initialDelayMs = options.initialDelayMs ?? 250;
  const maxDelayMs = options.maxDelayMs ?? 5_000;
  const { signal } = options;
  let lastSeq = options.afterSeq ?? 0;
  let serverRetryMs: number | undefined;
  let connected = false;
  let lastProgressAt = Date.now();
  let attempt = 0;

  for (;;) {
    signal?.throwIfAborted();
    const controller = new AbortController();
    const abort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', abort, { once: true });
    let reason: string;
    try {
      const res = await client.openEvents(taskId, lastSeq, controller.signal);
      handlers.onConnected?.({ reconnected: connected });
      connected = true;
      lastProgressAt = Date.now();
      const before = lastSeq;
      const final = await readStream(res, {
        known: () => lastSeq,
        onEvent: (event) => {
          lastSeq = event.seq;
          handlers.onEvent(event);
        },
        onRetry: (ms) => {
          serverRetryMs = ms;
        },
      });
      if (final) return { lastSeq, final };
      if (lastSeq > before) attempt = 0;
      reason = 'the server closed the stream';
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      if (err instanceof CliError) {
        const permanent = err.status !== undefined && err.status < 500 && err.status !== 408 && err.status !== 429;
        // Before the first connection, report the problem at once (agentq not running, bad id, ...).
        if (permanent || !connected) throw err;
        reason = err.message;
      } else {
        reason = err instanceof Error ? describeDrop(err) : String(err);
      }
    } finally {
      signal?.removeEventListener('abort', abort);
      controller.abort();
    }
    if (Date.now() - lastProgressAt > giveUpMs) {
      throw new CliError(
        'CLI_STREAM_LOST',
        `lost the event stream of task ${taskId} and could not reopen it within ${Math.round(giveUpMs / 1000)}s (${reason})`,
        { hint: `the task may still be running: agentq status ${taskId}` },
      );
    }
    attempt += 1;
    // the server's `retry:` replaces the first wait; later ones grow from it
    const delayMs = retryDelay({ initialMs: serverRetryMs ?? initialDelayMs, maxMs: maxDelayMs }, attempt);
    handlers.onReconnect?.({ attempt, delayMs, reason });
    await sleep(delayMs, signal);
  }
}

interface ReadCallbacks {
  known: () => number;
  onEvent: (event: AgentEvent) => void;
  onRetry: (ms: number) => void;
}

/** Reads one SSE response; answers the final state event, or undefined when the stream ended before it. */
async function readStream(res: Response, callbacks: ReadCallbacks): Promise<StateEvent | undefined> {
  if (!res.body) return undefined;
  let final: StateEvent | undefined;
  const parser = createParser({
    onRetry: callbacks.onRetry,
    onEvent: (message) => {
      if (final) return;
      const event = parseEvent(message.data, message.id);
      if (!event || event.seq <= callbacks.known()) return;
      callbacks.onEvent(event);
      if (event.kind === 'task.state' && isFinal(event.state)) final = event;
    },
  });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    while (!final) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  return final;
}

function parseEvent(data: string, id: string | undefined): AgentEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object' || typeof (value as { kind?: unknown }).kind !== 'string') return undefined;
  const event = value as AgentEvent;
  if (typeof event.seq !== 'number') {
    const seq = Number(id);
    if (!Number.isInteger(seq) || seq < 1) return undefined;
    (event as { seq: number }).seq = seq;
  }
  return event;
}

function describeDrop(err: Error): string {
  if (isAbort(err)) return 'aborted';
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (cause && typeof cause.code === 'string') return `connection lost (${cause.code})`;
  return `connection lost (${err.message})`;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
