import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/keys.js';

/** Every model-gateway token starts with this, so redaction can find one by its shape alone. */
export const GATEWAY_TOKEN_PREFIX = 'aqg_';
/** A gateway token: the prefix and 32 random bytes in base64url. */
export const GATEWAY_TOKEN_PATTERN = /aqg_[A-Za-z0-9_-]{43}/g;

/** What a gateway token grants: model calls on behalf of one task of one team. */
export interface GatewayGrant {
  taskId: string;
  team: string;
}

const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Mints the token a task's sandbox calls the model gateway with. Only its SHA-256 is stored, with
 * the grant, for `ttlSec` (the task's time limit and a margin); `revokeGatewayTokens` ends it sooner.
 */
export async function mintGatewayToken(redis: Redis, keys: RedisKeys, grant: GatewayGrant, ttlSec: number): Promise<string> {
  const token = `${GATEWAY_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const hash = sha256(token);
  await redis
    .multi()
    .set(keys.gatewayToken(hash), JSON.stringify(grant), 'EX', ttlSec)
    .sadd(keys.gatewayTokensOfTask(grant.taskId), hash)
    .expire(keys.gatewayTokensOfTask(grant.taskId), ttlSec)
    .exec();
  return token;
}

/** The grant of a token, or undefined for a made-up, revoked or expired one. */
export async function lookupGatewayToken(redis: Redis, keys: RedisKeys, token: string): Promise<GatewayGrant | undefined> {
  if (!token.startsWith(GATEWAY_TOKEN_PREFIX) || token.length !== GATEWAY_TOKEN_PREFIX.length + 43) return undefined;
  const raw = await redis.get(keys.gatewayToken(sha256(token)));
  if (raw === null) return undefined;
  try {
    const grant = JSON.parse(raw) as GatewayGrant;
    return typeof grant.taskId === 'string' && typeof grant.team === 'string' ? grant : undefined;
  } catch {
    return undefined;
  }
}

/** Ends every gateway token of a task (when it ends): later calls with them get 401. */
export async function revokeGatewayTokens(redis: Redis, keys: RedisKeys, taskId: string): Promise<void> {
  const hashes = await redis.smembers(keys.gatewayTokensOfTask(taskId));
  const multi = redis.multi();
  for (const hash of hashes) multi.del(keys.gatewayToken(hash));
  multi.del(keys.gatewayTokensOfTask(taskId));
  await multi.exec();
}
