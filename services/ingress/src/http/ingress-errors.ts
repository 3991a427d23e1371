import { defineErrors, registryError, type AgentqError } from '@agentq/shared';

/** Every error code the ingress answers with. Clients branch on these, never on messages. */
export const INGRESS_ERRORS = defineErrors({
  INGRESS_UNAUTHORIZED: { status: 401, meaning: 'missing or unknown token; missing or malformed `X-Agentq-Signature`; under `/admin`, no valid admin token or sign-in' },
  INGRESS_BAD_SIGNATURE: { status: 401, meaning: '`X-Agentq-Signature` made with none of the secrets in `AGENTQ_WEBHOOK_SECRETS` (or over another body or timestamp); Slack and GitHub deliveries with a bad signature' },
  INGRESS_STALE_SIGNATURE: { status: 401, meaning: 'the signature is right but its `t` is more than 5 minutes from the server\'s clock' },
  INGRESS_AMBIGUOUS_AUTH: { status: 400, meaning: 'both `Authorization` and `X-Agentq-Signature` were sent' },
  INGRESS_FORBIDDEN: { status: 403, meaning: 'the caller may not do this: a viewer key of another task, a repository import by a token outside the `default` team, a Slack channel or user the Slack policy does not allow' },
  INGRESS_INVALID_REQUEST: { status: 400, meaning: 'fields missing, unknown or of the wrong form (`details.fields` lists them)' },
  INGRESS_MALFORMED_JSON: { status: 400, meaning: 'body is not JSON' },
  INGRESS_INVALID_TASK_ID: { status: 400, meaning: 'the task id in the path is not a task id (26 lowercase base32 characters)' },
  INGRESS_NOT_FOUND: { status: 404, meaning: 'no such route' },
  INGRESS_TASK_NOT_FOUND: { status: 404, meaning: 'no such task (or another team\'s)' },
  INGRESS_TASK_FINAL: { status: 409, meaning: 'cancel of a finished task' },
  INGRESS_IDEMPOTENCY_IN_PROGRESS: { status: 409, meaning: 'the first request with this `Idempotency-Key` is still in progress; retry after `Retry-After`' },
  INGRESS_SIGNATURE_REPLAYED: { status: 409, meaning: 'a signed request came again with another `Idempotency-Key` than the first time' },
  INGRESS_REPO_EXISTS: { status: 409, meaning: 'the repository to import is in the local forge already' },
  INGRESS_BODY_TOO_LARGE: { status: 413, meaning: 'body over `AGENTQ_BODY_LIMIT_BYTES`' },
  INGRESS_UNSUPPORTED_MEDIA_TYPE: { status: 415, meaning: 'body is not `application/json`' },
  INGRESS_PROMPT_TOO_LONG: { status: 422, meaning: 'prompt over `AGENTQ_MAX_PROMPT_CHARS` characters' },
  INGRESS_PROMPT_INVALID: { status: 422, meaning: 'the prompt holds a control character: C0 other than tab, line feed and carriage return, DEL, or C1 (U+0080–U+009F); `details.character` names the first (`U+0000`)' },
  INGRESS_UNKNOWN_REPO: { status: 422, meaning: 'repository neither in the local forge nor allowed through the GitHub App' },
  INGRESS_NOT_SUPPORTED: { status: 422, meaning: '`callbackUrl` while completion callbacks are off (`AGENTQ_CALLBACK_SECRET` and `AGENTQ_CALLBACK_HOSTS` unset); such a request is refused rather than run without its callback' },
  INGRESS_CALLBACK_NOT_ALLOWED: { status: 422, meaning: '`callbackUrl` may not be called: its host is not in `AGENTQ_CALLBACK_HOSTS`, it is `http://` to a host other than `localhost`/`127.0.0.1`/`::1`, it carries credentials (`user:password@`), its host is an IP address that is private, link-local or loopback (but `127.0.0.1` and `::1`), or its port is neither the scheme\'s default (443, 80) nor one `AGENTQ_CALLBACK_HOSTS` names for the host; `details.reason` is `host_not_allowed`, `insecure`, `credentials`, `address` or `port`, `details.host` the host' },
  INGRESS_GITHUB_MALFORMED: { status: 400, meaning: 'a validly signed GitHub delivery of a handled event whose payload lacks fields agentq reads or has them of the wrong type (`details.fields` lists them); nothing is queued' },
  INGRESS_IDEMPOTENCY_CONFLICT: { status: 422, meaning: 'the `Idempotency-Key` was used before for another body' },
  INGRESS_REPO_IMPORT_FAILED: { status: 422, meaning: 'the repository to import could not be cloned from its `source`' },
  INGRESS_BUDGET_EXHAUSTED: { status: 429, meaning: 'the tasks of the caller\'s team that ended today (UTC) cost at least its cap in `AGENTQ_TEAM_DAILY_USD`; nothing is queued; `Retry-After` gives the seconds until 00:00 UTC, when the count starts again' },
  INGRESS_TOO_MANY_STREAMS: { status: 429, meaning: 'a live event stream over one of the caps: the ingress\'s total (`AGENTQ_SSE_MAX_STREAMS`), the client address\'s, the team\'s or the viewer link\'s; `details.cap` is `total`, `address`, `team` or `viewer_key`, `details.limit` the cap; nothing was opened; retry after `Retry-After`, or close another stream' },
  INGRESS_INTERNAL: { status: 500, meaning: 'an unexpected error; nothing was queued' },
  INGRESS_UNAVAILABLE: { status: 503, meaning: 'Redis unreachable (or the ingress is shutting down); nothing was queued; retry after `Retry-After`' },
  INGRESS_ARCHIVE_UNAVAILABLE: { status: 503, meaning: 'the transcript archive (`AGENTQ_ARCHIVE_URL`) could not be read: the task\'s stream has left Redis and the store is unreachable or refused the request; retry after `Retry-After`' },
  INGRESS_GITHUB_UNAVAILABLE: { status: 503, meaning: 'GitHub\'s API could not be asked whether the repository is allowed, or could not be read for what a GitHub delivery needs (a commenter\'s access, a pull request, a commit\'s checks, a review\'s comments)' },
  INGRESS_GATEWAY_UNAUTHORIZED: { status: 401, meaning: 'a model gateway call (`/llm/*`) without a gateway token, or with one that is unknown, revoked or expired (its task ended); answered in the provider\'s error shape, nothing is forwarded' },
  INGRESS_GATEWAY_TASK_ENDED: { status: 403, meaning: 'a model gateway call for a task that has ended (or no longer exists); nothing is forwarded' },
  INGRESS_GATEWAY_TASK_BUDGET: { status: 402, meaning: 'a model gateway call of a task whose metered spend reached its `limits.maxCostUsd`: Anthropic `402 billing_error`, OpenAI `429 insufficient_quota`; the task gets a budget stop (scope `task`) and is stopped; nothing is forwarded' },
  INGRESS_GATEWAY_TEAM_BUDGET: { status: 402, meaning: 'a model gateway call of a team whose spend today (UTC) reached its cap in `AGENTQ_TEAM_DAILY_USD`: answered as `INGRESS_GATEWAY_TASK_BUDGET`, budget stop of scope `team`' },
  INGRESS_GATEWAY_RATE_LIMITED: { status: 429, meaning: 'a model gateway call over `AGENTQ_GATEWAY_TASK_RPM` or `AGENTQ_GATEWAY_TEAM_RPM` this minute; the provider\'s 429 with `retry-after` (seconds to the next minute); nothing is forwarded' },
  INGRESS_GATEWAY_BODY_TOO_LARGE: { status: 413, meaning: 'a model gateway call with a body over 32 MiB' },
  INGRESS_GATEWAY_BAD_REQUEST: { status: 400, meaning: 'a model gateway call whose body could not be read' },
  INGRESS_GATEWAY_UPSTREAM_UNREACHABLE: { status: 502, meaning: 'the provider\'s API (`ANTHROPIC_BASE_URL`, `OPENAI_BASE_URL`) could not be reached or broke off before answering' },
  INGRESS_GATEWAY_NOT_CONFIGURED: { status: 503, meaning: 'a model gateway call for a provider without a credential (`ANTHROPIC_API_KEY`/`ANTHROPIC_AUTH_TOKEN`, `OPENAI_API_KEY`); sent with `x-should-retry: false`' },
  INGRESS_GATEWAY_UNAVAILABLE: { status: 503, meaning: 'the model gateway could not check a call (Redis unreachable); retry after `Retry-After`' },
  INGRESS_GATEWAY_METERING_FAILED: { status: 500, meaning: 'logged only: a model call passed but its spend could not be recorded (Redis), or its answer was too large (over 16 MiB, not streamed) to read its usage' },
  INGRESS_GATEWAY_PRICES_INVALID: { status: 500, meaning: 'the ingress does not start: `AGENTQ_MODEL_PRICES` cannot be read or is not a table of model prices' },
});

export type IngressErrorCode = keyof typeof INGRESS_ERRORS;

/** Seconds a client should wait before retrying after a 503 or an in-progress 409. */
export const RETRY_AFTER_SEC = 2;

export interface FieldProblem {
  path: string;
  message: string;
}

export function ingressError(
  code: IngressErrorCode,
  message: string,
  options: { details?: Record<string, unknown>; cause?: unknown } = {},
): AgentqError {
  return registryError(INGRESS_ERRORS, code, message, options);
}

export function invalidRequest(problems: FieldProblem[], what = 'request'): AgentqError {
  const list = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
  return ingressError('INGRESS_INVALID_REQUEST', `invalid ${what}: ${list}`, { details: { fields: problems } });
}

export function unavailable(cause?: unknown): AgentqError {
  return ingressError('INGRESS_UNAVAILABLE', 'the task queue is unavailable; retry later', { cause });
}

export function taskNotFound(taskId: string): AgentqError {
  return ingressError('INGRESS_TASK_NOT_FOUND', `task ${taskId} not found`);
}
