import { randomBytes } from 'node:crypto';
import type { AdminConfig } from '@agentq/shared';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendError } from '../http/error-handler.js';
import { ingressError } from '../http/ingress-errors.js';
import { ADMIN_COOKIE, ADMIN_SESSION_SEC, AdminAuth, cookieValue } from './admin-auth.js';
import { adminIndexPage, adminPageHeaders, signInPage } from './admin-pages.js';
import { QUEUE_BOARD_CSP, QUEUE_BOARD_PATH, registerQueueBoard } from './queue-board.js';

export interface AdminRoutesOptions {
  admin: AdminConfig;
  queue: Queue;
  /** `AGENTQ_PUBLIC_URL`: its path is where `/admin` is reached through a proxy, its scheme says whether cookies are `Secure`. */
  publicUrl: string;
}

const SIGN_IN = '/admin/sign-in';
const MAX_FORM_BYTES = 4096;

/** Did a browser ask for a page (rather than a script or an API client for JSON)? */
function wantsPage(request: FastifyRequest): boolean {
  return request.method === 'GET' && (request.headers.accept ?? '').includes('text/html');
}

/**
 * The operators' pages under `/admin`, for holders of an admin token: the queue dashboard
 * (bull-board) at `/admin/queues`, a start page, sign-in and sign-out. Every other request under
 * `/admin` without a valid token or session gets 401 (the sign-in form, for a browser) and nothing else.
 */
export async function adminRoutes(scope: FastifyInstance, options: AdminRoutesOptions): Promise<void> {
  const auth = new AdminAuth(options.admin.tokens);
  const publicUrl = new URL(options.publicUrl);
  const mount = publicUrl.pathname.replace(/\/+$/, '');
  const secure = publicUrl.protocol === 'https:';
  const cookie = (value: string, maxAge: number) =>
    `${ADMIN_COOKIE}=${value}; Path=${mount}/admin; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
  const showSignIn = (reply: FastifyReply, status: number, problem?: string) => {
    const nonce = randomBytes(16).toString('base64');
    return reply.code(status).headers(adminPageHeaders(nonce)).send(signInPage(nonce, `${mount}${SIGN_IN}`, problem));
  };

  // the sign-in form's body; nothing else here takes a form
  scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: MAX_FORM_BYTES }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  scope.addHook('onRequest', (request, reply, done) => {
    // nothing under /admin is cached, framed or sent on as a referrer; the dashboard's own policy
    reply.headers({
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'content-security-policy': QUEUE_BOARD_CSP,
    });
    const path = request.url.split('?')[0];
    if (path === SIGN_IN) return done();
    if (auth.isBearer(request.headers.authorization) || auth.isSession(cookieValue(request.headers.cookie, ADMIN_COOKIE))) return done();
    if (wantsPage(request)) return void showSignIn(reply, 401);
    sendError(reply, ingressError('INGRESS_UNAUTHORIZED', 'an admin token is required', { details: { reason: request.headers.authorization ? 'invalid' : 'missing' } }));
  });

  scope.get(SIGN_IN, async (_request, reply) => showSignIn(reply, 200));
  scope.post<{ Body: Record<string, unknown> | undefined }>(SIGN_IN, async (request, reply) => {
    const token = request.body?.token;
    if (typeof token !== 'string' || !auth.isToken(token)) {
      request.log.info('admin sign-in refused');
      return showSignIn(reply, 401, 'That is not an admin token.');
    }
    request.log.info('admin signed in');
    return reply.code(303).header('set-cookie', cookie(auth.session(token), ADMIN_SESSION_SEC)).header('location', `${mount}${QUEUE_BOARD_PATH}`).send();
  });
  scope.post('/admin/sign-out', async (_request, reply) =>
    reply.code(303).header('set-cookie', cookie('', 0)).header('location', `${mount}${SIGN_IN}`).send(),
  );
  scope.get('/admin', async (_request, reply) => {
    const nonce = randomBytes(16).toString('base64');
    return reply.code(200).headers(adminPageHeaders(nonce)).send(adminIndexPage(nonce, mount));
  });

  // nothing else is here: a holder of a token learns so, anyone else gets 401 first
  scope.all('/admin/*', async (request, reply) => sendError(reply, ingressError('INGRESS_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`)));

  await registerQueueBoard(scope, options.queue, { write: options.admin.queueWrite, basePath: `${mount}${QUEUE_BOARD_PATH}` });
}
