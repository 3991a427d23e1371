import { errorMessage, isAgentqError, type AgentqError } from '@agentq/shared';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { wwwAuthenticate } from '../auth/api-token-auth.js';
import { RETRY_AFTER_SEC, ingressError } from './ingress-errors.js';

/** Fastify's own request errors, as ingress errors. */
function fromFastify(err: FastifyError): AgentqError | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return ingressError('INGRESS_BODY_TOO_LARGE', 'request body is too large');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return ingressError('INGRESS_MALFORMED_JSON', 'request body is not valid JSON');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return ingressError('INGRESS_UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
    default:
      break;
  }
  if (err instanceof SyntaxError && err.statusCode === 400) {
    return ingressError('INGRESS_MALFORMED_JSON', 'request body is not valid JSON');
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    const wrapped = ingressError('INGRESS_INVALID_REQUEST', 'the request could not be read');
    return Object.assign(wrapped, { status: err.statusCode });
  }
  return undefined;
}

export function sendError(reply: FastifyReply, error: AgentqError): FastifyReply {
  if (error.status === 401) reply.header('www-authenticate', wwwAuthenticate(error.details?.reason));
  if (error.status === 503 || error.code === 'INGRESS_IDEMPOTENCY_IN_PROGRESS') {
    reply.header('retry-after', String(RETRY_AFTER_SEC));
  }
  const retryAfterSec = error.details?.retryAfterSec;
  if (typeof retryAfterSec === 'number') reply.header('retry-after', String(retryAfterSec));
  const details = error.status === 401 ? undefined : error.details;
  const body = details === undefined ? { code: error.code, message: error.message } : { code: error.code, message: error.message, details };
  return reply.code(error.status).type('application/json; charset=utf-8').send({ error: body });
}

/** Every error leaves as `{error: {code, message}}` with a stable code; internals are logged, not sent. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const known = isAgentqError(err) ? err : fromFastify(err);
    if (known && known.status < 500) {
      request.log.debug({ code: known.code }, 'request refused');
      return sendError(reply, known);
    }
    if (known && known.status === 503) {
      request.log.warn({ code: known.code, cause: errorMessage(known.cause ?? known) }, 'request refused: a backend is unavailable');
      return sendError(reply, known);
    }
    request.log.error({ err }, 'request failed');
    return sendError(reply, ingressError('INGRESS_INTERNAL', 'internal error'));
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, ingressError('INGRESS_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`)));
}
