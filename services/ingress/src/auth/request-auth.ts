import { verifyViewerKey } from '@agentq/shared';
import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import { ingressError } from '../http/ingress-errors.js';
import type { ApiTokenAuth, Principal } from './api-token-auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the bearer-token hook on API routes. */
    principal: Principal | null;
  }
}

/** onRequest hook of the API routes: 401 before the body is even read. */
export function requireToken(auth: ApiTokenAuth): onRequestHookHandler {
  return async (request) => {
    request.principal = auth.authenticate(request.headers.authorization);
  };
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw ingressError('INGRESS_UNAUTHORIZED', 'missing bearer token', { details: { reason: 'missing' } });
  return request.principal;
}

/**
 * Read access to one task's transcript: an API token (team-scoped), or the viewer link's `key`
 * so a browser EventSource, which cannot send headers, can follow a task it was given a link to.
 * Returns the principal, or `undefined` for viewer-key access (which covers this task only).
 */
export function authorizeTranscript(
  request: FastifyRequest,
  auth: ApiTokenAuth,
  viewerSecret: string,
  taskId: string,
): Principal | undefined {
  const key = (request.query as Record<string, unknown> | undefined)?.key;
  if (request.headers.authorization !== undefined || key === undefined) {
    return auth.authenticate(request.headers.authorization);
  }
  if (typeof key !== 'string' || !verifyViewerKey(viewerSecret, taskId, key)) {
    throw ingressError('INGRESS_FORBIDDEN', 'the viewer key does not match this task');
  }
  return undefined;
}
