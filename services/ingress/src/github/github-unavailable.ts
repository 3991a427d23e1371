import { isAgentqError } from '@agentq/shared';
import { ingressError } from '../http/ingress-errors.js';

/** A failed GitHub API call while handling a delivery: 503 `INGRESS_GITHUB_UNAVAILABLE` (our own errors pass through). */
export function githubUnavailable(err: unknown) {
  if (isAgentqError(err)) return err;
  return ingressError('INGRESS_GITHUB_UNAVAILABLE', 'the GitHub API could not be reached; the delivery was not handled', { cause: err });
}

/** The HTTP status of a failed Octokit request, when it has one. */
export function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}
