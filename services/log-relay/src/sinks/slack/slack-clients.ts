import type { Logger } from '@agentq/shared';
import { LogLevel, WebClient, WebClientEvent, type Logger as SlackLogger, type RetryOptions } from '@slack/web-api';
import { isRateLimitRetry } from './slack-errors.js';
import type { SlackMetrics } from './slack-metrics.js';

export interface SlackClientsOptions {
  /** Web API base URL (`SLACK_API_URL`). */
  apiUrl: string;
  logger: Logger;
  metrics: SlackMetrics;
  /** How many 429s in a row one call waits out before it fails (default 10). */
  rateLimitRetries?: number;
  /** Time limit of one HTTP request (default 30 s). */
  requestTimeoutMs?: number;
}

/** The client's own log lines go to the service logger at debug level. */
function slackLogger(logger: Logger): SlackLogger {
  const write = (...msg: unknown[]) => logger.debug({ slackClient: msg.map(String).join(' ') }, 'slack web client');
  return {
    debug: write,
    info: write,
    warn: write,
    error: write,
    setLevel: () => {},
    getLevel: () => LogLevel.DEBUG,
    setName: () => {},
  };
}

/**
 * Retry policy of the clients: a 429 is waited out (the client sleeps for its Retry-After, pausing
 * its queue, then retries); every other failure (5xx, network) is handed back to the caller at
 * once, which retries with its own backoff and, for a post, first checks whether the post landed.
 */
function retryConfig(retries: number): RetryOptions {
  const options = {
    retries,
    factor: 1.5,
    minTimeout: 50,
    maxTimeout: 1000,
    randomize: true,
    // p-retry's hook (the client hands `retryConfig` to p-retry): throwing stops the retries
    onFailedAttempt: (err: Error) => {
      if (!isRateLimitRetry(err)) throw err;
    },
  };
  return options;
}

/** One `WebClient` per bot token (a workspace), made on first use. */
export class SlackClients {
  private readonly clients = new Map<string, WebClient>();

  constructor(private readonly options: SlackClientsOptions) {}

  for(token: string): WebClient {
    let client = this.clients.get(token);
    if (!client) {
      client = new WebClient(token, {
        slackApiUrl: this.options.apiUrl,
        logger: slackLogger(this.options.logger),
        retryConfig: retryConfig(this.options.rateLimitRetries ?? 10),
        rejectRateLimitedCalls: false,
        timeout: this.options.requestTimeoutMs ?? 30_000,
      });
      client.on(WebClientEvent.RATE_LIMITED, (retryAfterSec: number, request: { url?: string }) => {
        const method = request.url?.split('/').pop() ?? 'unknown';
        this.options.metrics.rateLimited.inc({ method });
        this.options.logger.debug({ method, retryAfterSec }, 'slack rate limited; waiting');
      });
      this.clients.set(token, client);
    }
    return client;
  }
}
