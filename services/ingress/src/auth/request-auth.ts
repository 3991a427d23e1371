import { verifyViewerKey } from '@agentq/shared';
import type { FastifyRequest, onRequestHookHandler, preValidationHookHandler } from 'fastify';
import { ingressError } from '../http/ingress-errors.js';
import type { ApiTokenAuth, Principal } from './api-token-auth.js';
import { SIGNATURE_HEADER, parseSignatureHeader, type WebhookSignatureAuth } from './webhook-signature.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hooks on API routes. */
    principal: Principal | null;
    /** The body exactly as received, for JSON requests (what a signature covers). */
    rawBody: string | null;
    /** A signed request's body that is not valid JSON: reported once the signature is verified. */
    deferredBodyError: Error | null;
    /** The verified `v1` signature of a signed request; null for bearer-token requests. */
    webhookSignature: string | null;
  }
  interface FastifyContextConfig {
    /** The route also takes signed requests (`X-Agentq-Signature`) instead of a bearer token. */
    signedRequests?: boolean;
  }
}

export interface ApiAuth {
  tokens: ApiTokenAuth;
  webhooks: WebhookSignatureAuth;
}

/** Is this a request that authenticates by signature (a signature header on a route that takes one)? */
export function isSignedRequest(request: FastifyRequest): boolean {
  return request.routeOptions.config.signedRequests === true && request.headers[SIGNATURE_HEADER] !== undefined;
}

/**
 * onRequest hook of the API routes: a bearer token is checked at once, a signature header's
 * form too, both before the body is read (the signature itself needs the body:
 * `verifySignature`). A request with both is refused. Synchronous (what it throws goes to the
 * error handler): no promise per request.
 */
export function authenticateRequest(auth: ApiAuth): onRequestHookHandler {
  return (request, _reply, done) => {
    if (!isSignedRequest(request)) {
      request.principal = auth.tokens.authenticate(request.headers.authorization);
    } else if (request.headers.authorization !== undefined) {
      throw ingressError('INGRESS_AMBIGUOUS_AUTH', 'send either Authorization: Bearer or X-Agentq-Signature, not both');
    } else {
      parseSignatureHeader(request.headers[SIGNATURE_HEADER]);
    }
    done();
  };
}

/**
 * preValidation hook of the API routes: verifies a signed request against its raw body, before
 * anything looks at the body (a body that is not JSON is reported only for an authentic request).
 */
export function verifySignature(webhooks: WebhookSignatureAuth): preValidationHookHandler {
  return (request, _reply, done) => {
    if (request.principal === null && isSignedRequest(request)) {
      const signature = parseSignatureHeader(request.headers[SIGNATURE_HEADER]);
      request.principal = webhooks.authenticate(signature, request.rawBody ?? '');
      request.webhookSignature = signature.v1;
      if (request.deferredBodyError) throw request.deferredBodyError;
    }
    done();
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
