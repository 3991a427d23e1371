import { createHmac } from 'node:crypto';

/**
 * The HMAC-SHA256 of `<timestamp>.<body>` keyed with `secret`: what `X-Agentq-Signature` carries
 * as `v1`, for signed requests to agentq and for the completion callbacks agentq sends.
 */
export function webhookHmac(secret: string, timestamp: string, body: string): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body, 'utf8').digest();
}

/** The `X-Agentq-Signature` value (`t=<unix seconds>,v1=<hex HMAC>`) of a body sent at `timestampSec`. */
export function signatureHeader(secret: string, timestampSec: number, body: string): string {
  const timestamp = String(Math.floor(timestampSec));
  return `t=${timestamp},v1=${webhookHmac(secret, timestamp, body).toString('hex')}`;
}
