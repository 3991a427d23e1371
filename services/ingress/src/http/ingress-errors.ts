import { AgentqError } from '@agentq/shared';

/** Every error code the ingress answers with. Clients branch on these, never on messages. */
export const INGRESS_ERRORS = {
  INGRESS_UNAUTHORIZED: 401,
  INGRESS_BAD_SIGNATURE: 401,
  INGRESS_STALE_SIGNATURE: 401,
  INGRESS_AMBIGUOUS_AUTH: 400,
  INGRESS_FORBIDDEN: 403,
  INGRESS_INVALID_REQUEST: 400,
  INGRESS_MALFORMED_JSON: 400,
  INGRESS_INVALID_TASK_ID: 400,
  INGRESS_NOT_FOUND: 404,
  INGRESS_TASK_NOT_FOUND: 404,
  INGRESS_TASK_FINAL: 409,
  INGRESS_IDEMPOTENCY_IN_PROGRESS: 409,
  INGRESS_SIGNATURE_REPLAYED: 409,
  INGRESS_REPO_EXISTS: 409,
  INGRESS_BODY_TOO_LARGE: 413,
  INGRESS_UNSUPPORTED_MEDIA_TYPE: 415,
  INGRESS_PROMPT_TOO_LONG: 422,
  INGRESS_UNKNOWN_REPO: 422,
  INGRESS_NOT_SUPPORTED: 422,
  INGRESS_CALLBACK_NOT_ALLOWED: 422,
  INGRESS_IDEMPOTENCY_CONFLICT: 422,
  INGRESS_REPO_IMPORT_FAILED: 422,
  INGRESS_BUDGET_EXHAUSTED: 429,
  INGRESS_INTERNAL: 500,
  INGRESS_UNAVAILABLE: 503,
  INGRESS_GITHUB_UNAVAILABLE: 503,
} as const;

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
  return new AgentqError(code, message, { status: INGRESS_ERRORS[code], ...options });
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
