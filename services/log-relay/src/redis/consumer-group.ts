import type { Redis } from 'ioredis';
import { redisErrorCode } from './stream-reply.js';

/** The consumer group name the log relay uses, on the task list and on every event stream. */
export const RELAY_GROUP = 'relay';

/**
 * Creates `group` on `key` reading from the start, unless it exists. Without `mkstream` the stream
 * must exist (Redis answers an error otherwise).
 */
export async function ensureGroup(redis: Redis, key: string, group: string, options: { mkstream: boolean }): Promise<void> {
  const args: (string | number)[] = ['CREATE', key, group, '0'];
  if (options.mkstream) args.push('MKSTREAM');
  try {
    await redis.call('XGROUP', args);
  } catch (err) {
    if (redisErrorCode(err) !== 'BUSYGROUP') throw err;
  }
}
