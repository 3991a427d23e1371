import { timingSafeEqual } from 'node:crypto';
import { DEFAULT_TEAM, webhookHmac, type WebhookSecret } from '@agentq/shared';
import { ingressError } from '../http/ingress-errors.js';
import type { Principal } from './api-token-auth.js';

/** The header of a signed request (lower case, as Node reports it). */
export const SIGNATURE_HEADER = 'x-agentq-signature';

/** How far a signature's timestamp may be from the server's clock, either way. */
export const SIGNATURE_WINDOW_SEC = 5 * 60;

/** `t=<unix seconds>,v1=<HMAC-SHA256 as 64 lowercase hex digits>`, exactly. */
const HEADER_PATTERN = /^t=([0-9]{1,12}),v1=([0-9a-f]{64})$/;

export interface SignatureHeader {
  /** The timestamp exactly as sent: the signed text starts with it. */
  timestamp: string;
  /** The signature, lowercase hex. */
  v1: string;
}

/** The `X-Agentq-Signature` value for a body sent at `timestampSec` (what a caller computes). */
export { signatureHeader } from '@agentq/shared';

/** Parses `X-Agentq-Signature`; a missing or malformed header is `INGRESS_UNAUTHORIZED` (401). */
export function parseSignatureHeader(value: string | string[] | undefined): SignatureHeader {
  if (value === undefined) {
    throw ingressError('INGRESS_UNAUTHORIZED', 'missing X-Agentq-Signature header', { details: { reason: 'missing' } });
  }
  const match = typeof value === 'string' ? HEADER_PATTERN.exec(value) : null;
  if (!match?.[1] || !match[2]) {
    throw ingressError(
      'INGRESS_UNAUTHORIZED',
      'malformed X-Agentq-Signature header: expected t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">',
      { details: { reason: 'malformed' } },
    );
  }
  return { timestamp: match[1], v1: match[2] };
}

export interface WebhookSignatureOptions {
  /** Milliseconds since the epoch (default `Date.now`). */
  now?: () => number;
  windowSec?: number;
}

/**
 * Verifies signed requests: an HMAC-SHA256, keyed with one of the configured secrets, of
 * `<t>.<raw body>`, made within the window of the server's clock. The secret that matches
 * names the team, as an API token does.
 */
export class WebhookSignatureAuth {
  private readonly secrets: readonly WebhookSecret[];
  private readonly now: () => number;
  private readonly windowSec: number;

  constructor(secrets: readonly WebhookSecret[], options: WebhookSignatureOptions = {}) {
    this.secrets = [...secrets];
    this.now = options.now ?? Date.now;
    this.windowSec = options.windowSec ?? SIGNATURE_WINDOW_SEC;
  }

  /**
   * The principal of a signed request, or a 401: `INGRESS_BAD_SIGNATURE` when no secret gives
   * this signature, `INGRESS_STALE_SIGNATURE` when one does but the timestamp is outside the
   * window. The window is judged only for authentic signatures, so only a holder of a secret
   * learns about the clock.
   */
  authenticate(signature: SignatureHeader, rawBody: string): Principal {
    const given = Buffer.from(signature.v1, 'hex');
    let team: string | undefined;
    // every secret is tried, so the time taken does not tell which one matched
    for (const entry of this.secrets) {
      const expected = webhookHmac(entry.secret, signature.timestamp, rawBody);
      if (expected.length === given.length && timingSafeEqual(expected, given) && team === undefined) team = entry.team;
    }
    if (team === undefined) {
      throw ingressError('INGRESS_BAD_SIGNATURE', 'the X-Agentq-Signature does not match the timestamp and body');
    }
    const skewSec = Math.abs(Math.floor(this.now() / 1000) - Number(signature.timestamp));
    if (skewSec > this.windowSec) {
      throw ingressError(
        'INGRESS_STALE_SIGNATURE',
        `the signature's timestamp is more than ${this.windowSec} s away from the server's clock; sign each delivery when sending it`,
      );
    }
    return { team, admin: team === DEFAULT_TEAM };
  }
}
