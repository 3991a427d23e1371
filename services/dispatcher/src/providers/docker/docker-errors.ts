import { AgentqError } from '@agentq/shared';
import { ProviderUnavailableError, SandboxExistsError, dispatchError } from '../../dispatch-errors.js';

/** What a failed Engine API call looks like through dockerode (and the socket errors under it). */
interface EngineFailure {
  statusCode?: unknown;
  code?: unknown;
  json?: unknown;
  message?: unknown;
}

/** Socket errors that mean the engine cannot be reached (or went away mid-request). */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOENT', // no socket file
  'EACCES', // the socket is not ours to use
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

/** The HTTP status the engine answered with, if it answered. */
export function engineStatus(err: unknown): number | undefined {
  const status = (err as EngineFailure | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** What the engine said (its `{message}`), else the error's own message. */
function engineMessage(err: unknown): string {
  const failure = err as EngineFailure | null;
  const json = failure?.json as { message?: unknown } | null | undefined;
  if (json && typeof json === 'object' && typeof json.message === 'string') return json.message.trim();
  // dockerode's own wording around the engine's message: "(HTTP code 500) server error - <message>"
  if (typeof failure?.message === 'string') return failure.message.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim();
  return String(err);
}

/** Replaces each of the given values (the sandbox's variables) in a message. */
export function scrub(message: string, values: readonly string[]): string {
  let out = message;
  for (const value of values) {
    if (value.length >= 4) out = out.split(value).join('[REDACTED]');
  }
  return out;
}

/** Which call failed: creating the container, getting its image, or anything else. */
export type DockerStep = 'create' | 'image' | 'other';

/**
 * Maps a failed Engine API call to a dispatcher error: a socket error, 429 or 5xx →
 * `ProviderUnavailableError` (temporary: the job is retried); 409 at creation →
 * `SandboxExistsError` (the container name is taken); any 4xx while getting the image →
 * `DISPATCH_IMAGE_NOT_FOUND`; anything else → `DISPATCH_SANDBOX_FAILED` (a 404 at creation is
 * one too: the image was there a moment before, so it is the network or another setting). An
 * `AgentqError` is passed on as it is. `what` says what was attempted; `hide` are values that must not appear in the message.
 */
export function dockerError(err: unknown, step: DockerStep, what: string, hide: readonly string[] = []): AgentqError {
  if (err instanceof AgentqError) return err;
  const status = engineStatus(err);
  const code = (err as EngineFailure | null)?.code;
  if (status === undefined) {
    if (typeof code === 'string' && UNREACHABLE.has(code)) {
      return new ProviderUnavailableError(`${what}: the Docker engine cannot be reached (${code})`, { cause: err });
    }
    return dispatchError('DISPATCH_SANDBOX_FAILED', `${what}: ${scrub(engineMessage(err), hide)}`, { cause: err });
  }
  const message = `${what}: the Docker engine answered ${status}: ${scrub(engineMessage(err), hide)}`;
  if (status >= 500 || status === 429) return new ProviderUnavailableError(message, { cause: err });
  if (step === 'create' && status === 409) return new SandboxExistsError(message, { cause: err });
  if (step === 'image' && status >= 400) return dispatchError('DISPATCH_IMAGE_NOT_FOUND', message, { cause: err });
  return dispatchError('DISPATCH_SANDBOX_FAILED', message, { cause: err });
}
