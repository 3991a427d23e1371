import { errorMessage, signatureHeader, type TaskRecord } from '@agentq/shared';
import { Agent, fetch } from 'undici';
import { CallbackAddressRefused, guardedLookup, literalAddressProblem } from './callback-address.js';

/**
 * The HTTP client of completion callbacks: every connection it opens checks the address its
 * host resolved to (`guardedLookup`), at connect time.
 */
const callbackAgent = new Agent({ connect: { lookup: guardedLookup } });

export const CALLBACK_EVENT = 'task.finished';
export const CALLBACK_USER_AGENT = 'agentq';

/** The body of a completion callback. */
export interface CallbackPayload {
  event: typeof CALLBACK_EVENT;
  /** The final task record, as `GET /v1/tasks/:id` returns it. */
  task: TaskRecord;
}

/**
 * What one request came to: delivered (2xx), refused for good (any other answer: 3xx, 4xx but 408
 * and 429), worth another attempt (no answer, 408, 429, 5xx; after `retryAfterMs` when the
 * receiver said so), cut off by `signal` (the relay is closing), or not connected at all because
 * the host resolved to an address callbacks may not reach (private, loopback, link-local, ...).
 */
export type CallbackAttempt =
  | { kind: 'delivered'; status: string }
  | { kind: 'refused'; status: string }
  | { kind: 'retry'; status: string; retryAfterMs?: number; /** What failed when there was no answer. */ error?: string }
  | { kind: 'aborted' }
  | { kind: 'blocked'; status: 'address_not_allowed'; /** `private` or `loopback`. */ reason: string; address: string };

export interface CallbackRequest {
  url: string;
  /** The JSON body, signed as sent. */
  body: string;
  /** `X-Agentq-Delivery`: the task id. */
  deliveryId: string;
  /** Signing key (`AGENTQ_CALLBACK_SECRET`). Secret: never log this. */
  secret: string;
  /** Milliseconds since the epoch, for the signature's timestamp. */
  now: number;
  /** Time the request may take, answer included. */
  timeoutMs: number;
  /** Aborts the request (the attempt is then `aborted`). */
  signal?: AbortSignal;
}

/** `Retry-After` as milliseconds (seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** One signed POST of a completion callback; never follows a redirect. */
export async function sendCallback(request: CallbackRequest): Promise<CallbackAttempt> {
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal = request.signal ? AbortSignal.any([timeout, request.signal]) : timeout;
  const literal = literalAddressProblem(new URL(request.url).hostname);
  if (literal) return blocked(literal);
  try {
    const response = await fetch(request.url, {
      dispatcher: callbackAgent,
      method: 'POST',
      redirect: 'manual',
      signal,
      headers: {
        'content-type': 'application/json',
        'user-agent': CALLBACK_USER_AGENT,
        'x-agentq-signature': signatureHeader(request.secret, request.now / 1000, request.body),
        'x-agentq-delivery': request.deliveryId,
      },
      body: request.body,
    });
    await response.body?.cancel().catch(() => {});
    const status = String(response.status);
    if (response.status >= 200 && response.status < 300) return { kind: 'delivered', status };
    if (retryable(response.status)) return { kind: 'retry', status, retryAfterMs: retryAfterMs(response.headers.get('retry-after'), request.now) };
    return { kind: 'refused', status };
  } catch (err) {
    if (request.signal?.aborted) return { kind: 'aborted' };
    const refused = addressRefusal(err);
    if (refused) return blocked(refused);
    return { kind: 'retry', status: timeout.aborted ? 'timeout' : 'network_error', error: errorMessage(err) };
  }
}

function blocked(refused: CallbackAddressRefused): CallbackAttempt {
  return { kind: 'blocked', status: 'address_not_allowed', reason: refused.reason, address: refused.address };
}

/** The address refusal a failed request carries (undici wraps the connect error in `cause`). */
function addressRefusal(err: unknown): CallbackAddressRefused | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof CallbackAddressRefused) return current;
    current = current.cause;
  }
  return undefined;
}
