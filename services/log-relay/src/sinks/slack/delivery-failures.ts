import { Backoff, type Logger, type RetryPolicy } from '@agentq/shared';
import { ClaimStaleError, NoSlackTokenError, type RelayErrorCode } from '../../relay-errors.js';
import { classifySlackError, describeSlackError } from './slack-errors.js';
import type { WorkspaceToken } from './workspace-token.js';

/** What a failed delivery step means: try again after `inMs`, or stop the task's Slack delivery for good. */
export type FailureDecision =
  | { kind: 'retry'; inMs: number }
  | { kind: 'stop'; code: RelayErrorCode; fields: Record<string, unknown>; message: string };

/** Wait for a claim to be refreshed (or lost) before writing again. */
export const STALE_RETRY_MS = 250;

export interface DeliveryFailuresDeps {
  token: WorkspaceToken;
  /** Retries of failed Slack calls (the sink's `retryBaseMs`/`retryMaxMs`). */
  retry: RetryPolicy;
  log: Logger;
  random?: () => number;
}

/**
 * The failure policy of one task's Slack delivery, by kind of failure:
 * - the claim is not fresh: try again shortly, without counting a failure;
 * - the workspace has no token, the channel cannot be posted to: stop for good;
 * - Slack refused the token: read the token again once (the app may have been installed again)
 *   and try again at once when it changed; stop for good otherwise;
 * - anything else (5xx, rate limits past their wait, network, Redis): retry with backoff, logged on
 *   the first failure and every tenth.
 */
export class DeliveryFailures {
  private readonly backoff: Backoff;
  private authRetried = false;

  constructor(private readonly deps: DeliveryFailuresDeps) {
    this.backoff = new Backoff(deps.retry, { random: deps.random });
  }

  /** A step succeeded: the next failure waits the shortest time again. */
  succeeded(): void {
    this.backoff.reset();
  }

  async decide(err: unknown): Promise<FailureDecision> {
    if (err instanceof ClaimStaleError) return { kind: 'retry', inMs: STALE_RETRY_MS };
    if (err instanceof NoSlackTokenError) {
      return stop('RELAY_SLACK_NO_TOKEN', { error: err.message, ...err.details }, 'no slack token for the workspace; slack delivery stopped for this task');
    }
    const kind = classifySlackError(err);
    if (kind === 'auth') {
      if (!this.authRetried) {
        this.authRetried = true;
        if (await this.deps.token.renew()) return { kind: 'retry', inMs: 0 };
      }
      return stop('RELAY_SLACK_AUTH_FAILED', describeSlackError(err), 'slack refused the token; slack delivery stopped for this task');
    }
    if (kind === 'channel') {
      return stop('RELAY_SLACK_CHANNEL_UNAVAILABLE', describeSlackError(err), 'slack channel cannot be posted to; slack delivery stopped for this task');
    }
    const retryInMs = this.backoff.fail();
    const failures = this.backoff.failures;
    const level = failures === 1 || failures % 10 === 0 ? 'warn' : 'debug';
    this.deps.log[level]({ code: 'RELAY_SLACK_CALL_FAILED' satisfies RelayErrorCode, retryInMs, failures, ...describeSlackError(err) }, 'slack delivery failed; retrying');
    return { kind: 'retry', inMs: retryInMs };
  }
}

function stop(code: RelayErrorCode, fields: Record<string, unknown>, message: string): FailureDecision {
  return { kind: 'stop', code, fields, message };
}
