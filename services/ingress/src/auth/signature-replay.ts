import type { Redis } from 'ioredis';
import type { RedisKeys } from '@agentq/shared';
import { ingressError } from '../http/ingress-errors.js';
import { redisCall } from '../http/redis-call.js';

/**
 * How long a signature is remembered: longer than it can be valid (its timestamp may lie up to the
 * window ahead of or behind the clock).
 */
export const SIGNATURE_MEMORY_SEC = 660;

/** Remembers the signature with the request's key; answers what was remembered, if anything. */
const CLAIM = `local seen = redis.call('GET', KEYS[1])
if seen then return seen end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false`;

/**
 * The replay guard of signed requests. The signature covers the timestamp and the body only, so a
 * captured request could be sent again with another `Idempotency-Key` (or one where it had none)
 * and create a second task: a signature that comes back must come with the same key as the first
 * time (and then finds the first task through it), or it is refused with `INGRESS_SIGNATURE_REPLAYED`.
 */
export async function guardSignatureReplay(redis: Redis, keys: RedisKeys, signature: string, idempotencyKey: string | undefined): Promise<void> {
  const mine = idempotencyKey === undefined ? '-' : `key:${idempotencyKey}`;
  const seen = (await redisCall(() => redis.eval(CLAIM, 1, keys.webhookSignature(signature), mine, SIGNATURE_MEMORY_SEC))) as string | null;
  if (seen !== null && seen !== mine) {
    throw ingressError('INGRESS_SIGNATURE_REPLAYED', 'this signed request was received before with another Idempotency-Key; sign every new request anew');
  }
}
