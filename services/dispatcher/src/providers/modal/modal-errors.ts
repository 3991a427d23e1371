import { AgentqError, errorMessage } from '@agentq/shared';
import { AlreadyExistsError, InternalFailure, NotFoundError, ResourceExhaustedError, SandboxTimeoutError, TimeoutError } from 'modal';
import { dispatchError, type DispatchErrorCode } from '../../dispatch-errors.js';

// gRPC status codes (the SDK passes some server errors on as nice-grpc `ClientError`s)
export const GRPC_INVALID_ARGUMENT = 3;
export const GRPC_NOT_FOUND = 5;
export const GRPC_ALREADY_EXISTS = 6;
/** Cancelled, unknown, deadline exceeded, resource exhausted (rate limits), aborted, internal, unavailable. */
export const GRPC_TEMPORARY = new Set([1, 2, 4, 8, 10, 13, 14]);
/** Errors of a connection that could not be made or broke. */
export const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/** The gRPC status code of an error the SDK passed on from its transport, if it is one. */
export function grpcCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { name?: unknown; code?: unknown; '@@nice-grpc:ClientError'?: unknown };
  const isClientError = e['@@nice-grpc:ClientError'] === true || e.name === 'ClientError';
  return isClientError && typeof e.code === 'number' ? e.code : undefined;
}

export function isNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  }
  return false;
}

/** The sandbox (or the id) is not known to Modal. */
export function isNotFound(err: unknown): boolean {
  const code = grpcCode(err);
  return err instanceof NotFoundError || code === GRPC_NOT_FOUND || code === GRPC_INVALID_ARGUMENT;
}

/**
 * Turns an error of the Modal SDK into a dispatcher error: a name taken (a sandbox for the task
 * exists) → `SandboxExistsError`; Modal unreachable, rate limiting, out of capacity or failing
 * on its side → `ProviderUnavailableError`; a failure while building the image (`stage: 'image'`)
 * → `DISPATCH_IMAGE_NOT_FOUND`; anything else → `DISPATCH_SANDBOX_FAILED`. An `AgentqError` is passed
 * on as it is. The given secret values are cut out of the message.
 */
export function modalError(err: unknown, what: string, options: { stage?: 'image'; secrets?: readonly string[] } = {}): AgentqError {
  if (err instanceof AgentqError) return err;
  const grpc = grpcCode(err);
  let code: DispatchErrorCode;
  if (err instanceof AlreadyExistsError || grpc === GRPC_ALREADY_EXISTS) code = 'DISPATCH_SANDBOX_EXISTS';
  else if (
    err instanceof ResourceExhaustedError ||
    err instanceof InternalFailure ||
    err instanceof TimeoutError ||
    err instanceof SandboxTimeoutError ||
    (grpc !== undefined && GRPC_TEMPORARY.has(grpc)) ||
    isNetworkError(err)
  ) {
    code = 'DISPATCH_PROVIDER_UNAVAILABLE';
  } else if (options.stage === 'image') code = 'DISPATCH_IMAGE_NOT_FOUND';
  else code = 'DISPATCH_SANDBOX_FAILED';
  let message = `${what}: ${errorMessage(err)}`;
  for (const secret of options.secrets ?? []) {
    if (secret.length >= 4) message = message.split(secret).join('[REDACTED]');
  }
  return dispatchError(code, message, { cause: err });
}
