import { Redis, type RedisOptions } from 'ioredis';

export interface ConnectOptions {
  /** Fail commands at once while disconnected instead of queueing them (for request paths). */
  failFast?: boolean;
  /** Required by BullMQ for blocking connections. */
  bullmq?: boolean;
  connectionName?: string;
  /**
   * Reconnection attempts a queued command waits for before it fails (ioredis' default: 20). `0`
   * fails commands at the first failed attempt, for loops that retry on their own.
   */
  maxRetriesPerRequest?: number;
}

/**
 * An ioredis client. With `failFast`, commands issued while Redis is unreachable fail quickly so
 * that an API can answer 503 instead of hanging.
 */
export function connectRedis(url: string, options: ConnectOptions = {}): Redis {
  const opts: RedisOptions = {
    lazyConnect: false,
    connectionName: options.connectionName,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  };
  if (options.bullmq) {
    opts.maxRetriesPerRequest = null;
  } else if (options.failFast) {
    opts.maxRetriesPerRequest = 0;
    opts.enableOfflineQueue = false;
    opts.commandTimeout = 2000;
  }
  if (options.maxRetriesPerRequest !== undefined) opts.maxRetriesPerRequest = options.maxRetriesPerRequest;
  return new Redis(url, opts);
}
