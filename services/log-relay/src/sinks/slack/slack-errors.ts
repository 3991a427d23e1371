import { AgentqError } from '@agentq/shared';
import { ErrorCode, type WebAPIHTTPError, type WebAPIPlatformError, type WebAPIRequestError } from '@slack/web-api';

/**
 * What a failed Slack call means for the task:
 * - `auth`: the token is not valid (any more) for the workspace; stops the task's delivery.
 * - `channel`: the channel cannot be posted to; stops the task's delivery.
 * - `rejected`: Slack refused this message's content; retrying it unchanged cannot succeed.
 * - `gone`: the message to update no longer exists.
 * - `retry`: rate limits, Slack or network trouble, anything unknown; retried with backoff.
 */
export type FailureKind = 'auth' | 'channel' | 'rejected' | 'gone' | 'retry';

const AUTH = new Set([
  'invalid_auth',
  'not_authed',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'no_permission',
  'missing_scope',
  'not_allowed_token_type',
  'team_access_not_granted',
  'ekm_access_denied',
  'enterprise_is_restricted',
  'org_login_required',
  'access_denied',
]);
const CHANNEL = new Set([
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'restricted_action',
  'restricted_action_read_only_channel',
  'restricted_action_thread_only_channel',
  'restricted_action_non_threadable_channel',
  'team_not_found',
]);
const REJECTED = new Set([
  'msg_too_long',
  'no_text',
  'invalid_blocks',
  'invalid_blocks_format',
  'too_many_attachments',
  'invalid_arguments',
  'invalid_arg_name',
  'invalid_array_arg',
  'invalid_charset',
  'invalid_form_data',
  'invalid_metadata_format',
  'invalid_metadata_schema',
  'metadata_too_large',
  'markdown_text_conflict',
]);
const GONE = new Set(['message_not_found', 'cant_update_message', 'edit_window_closed']);

/**
 * The client's signal, after it waited out a 429, that the call should be made again. It comes
 * wrapped like a request error, around a plain `Error` of the client's own; real request failures
 * wrap what `fetch` threw (a `TypeError`, or a `DOMException` on timeout).
 */
export function isRateLimitRetry(err: unknown): boolean {
  if (!(err instanceof Error) || (err as { code?: unknown }).code !== ErrorCode.RequestError) return false;
  const original = (err as WebAPIRequestError).original;
  return original instanceof Error && Object.getPrototypeOf(original) === Error.prototype;
}

/** The `error` string of a Slack platform error (`ok: false`), or undefined for other failures. */
export function platformError(err: unknown): string | undefined {
  if (err instanceof Error && (err as { code?: unknown }).code === ErrorCode.PlatformError) {
    const data = (err as WebAPIPlatformError).data;
    return typeof data?.error === 'string' ? data.error : 'unknown_error';
  }
  return undefined;
}

export function classifySlackError(err: unknown): FailureKind {
  const error = platformError(err);
  if (error === undefined) return 'retry';
  if (AUTH.has(error)) return 'auth';
  if (CHANNEL.has(error)) return 'channel';
  if (REJECTED.has(error)) return 'rejected';
  if (GONE.has(error)) return 'gone';
  return 'retry';
}

/** Outcome label for metrics. */
export function callOutcome(err: unknown): string {
  if (isRateLimitRetry(err)) return 'rate_limited';
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  switch (code) {
    case ErrorCode.PlatformError:
      return 'platform_error';
    case ErrorCode.HTTPError:
      return 'http_error';
    case ErrorCode.RequestError:
      return 'request_error';
    default:
      return 'error';
  }
}

/** A short description of a failed call for the logs (never the request, which holds the token). */
export function describeSlackError(err: unknown): Record<string, unknown> {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  if (code === ErrorCode.PlatformError) return { slackError: platformError(err) };
  if (code === ErrorCode.HTTPError) return { httpStatus: (err as WebAPIHTTPError).statusCode };
  if (err instanceof AgentqError) return { errorCode: err.code, error: err.message };
  return { error: err instanceof Error ? err.message : String(err) };
}
