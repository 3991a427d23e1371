import type { Config, LocalForge, TaskRequest } from '@agentq/shared';
import { ingressError } from '../http/ingress-errors.js';

/**
 * What every way in (HTTP API, Slack) checks before a task is queued: fields the API accepts but
 * agentq does not act on yet (refused rather than silently ignored), the prompt limit, and that the
 * repository is known.
 */
export function admitTaskRequest(request: TaskRequest, deps: { config: Config; forge: LocalForge }): void {
  const unsupported = [
    request.limits?.maxCostUsd !== undefined ? 'limits.maxCostUsd (spending limits are not enforced yet)' : undefined,
    request.callbackUrl !== undefined ? 'callbackUrl (completion callbacks are not sent yet)' : undefined,
  ].filter((field): field is string => field !== undefined);
  if (unsupported.length > 0) {
    throw ingressError('INGRESS_NOT_SUPPORTED', `not supported: ${unsupported.join('; ')}`);
  }
  const promptChars = [...request.prompt].length;
  const limit = deps.config.maxPromptChars;
  if (promptChars > limit) {
    throw ingressError('INGRESS_PROMPT_TOO_LONG', `the prompt has ${promptChars} characters; the limit is ${limit}`, {
      details: { limit },
    });
  }
  if (!deps.forge.has(request.repo)) {
    throw ingressError(
      'INGRESS_UNKNOWN_REPO',
      `\`${request.repo}\` is not a repository agentq knows; add it with \`agentq repo add\` (POST /v1/repos)`,
    );
  }
}
