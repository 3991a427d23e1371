import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { adminRoutes } from './admin/admin-routes.js';
import type { AppDeps } from './app-deps.js';
import { ApiTokenAuth } from './auth/api-token-auth.js';
import { authenticateRequest, isSignedRequest, verifySignature } from './auth/request-auth.js';
import { WebhookSignatureAuth } from './auth/webhook-signature.js';
import { gatewayRoutes } from './gateway/gateway-routes.js';
import { registerEventsRoute } from './events/events-route.js';
import { SseHub } from './events/sse-hub.js';
import { StreamLimits } from './events/stream-limits.js';
import { TranscriptReader } from './events/transcript-reader.js';
import { AutofixFollowUps } from './github/autofix/autofix-followups.js';
import { githubRoutes } from './github/github-routes.js';
import { GitHubWebhooks } from './github/github-webhooks.js';
import { installErrorHandlers, sendError } from './http/error-handler.js';
import { unavailable } from './http/ingress-errors.js';
import { installIngressMetrics, installStreamMetrics } from './ops/ingress-metrics.js';
import { registerOpsRoutes } from './ops/ops-routes.js';
import { registerRepoRoutes } from './repos/repo-routes.js';
import { slackRoutes } from './slack/slack-routes.js';
import { TaskCanceler } from './tasks/task-canceler.js';
import { TaskIntake } from './tasks/task-intake.js';
import { registerTaskRoutes } from './tasks/task-routes.js';
import { registerTasksPageRoute } from './tasks-page/tasks-page-route.js';
import { registerViewerRoute } from './viewer/viewer-route.js';
import type { TaskServices } from './tasks/task-services.js';

/**
 * The ingress HTTP app: task API under `/v1`, the viewer page, ops endpoints, Slack under
 * `/slack` and the GitHub App's webhook under `/github` when configured. Closing it ends every open event stream first.
 */
export function buildApp(deps: AppDeps): FastifyInstance {
  const { config, store, archive, logger } = deps;
  const app: FastifyInstance = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });

  // JSON only (anything else is 415), parsed with prototype-poisoning checks; the text as
  // received is kept for signature checks
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const raw = body as string;
    request.rawBody = raw;
    // a POST without a body (cancel) may still say it is JSON
    if (raw === '') return done(null, undefined);
    defaultJson(request, raw, (err, value) => {
      // a signed request's signature is checked first; its body error is reported after that
      if (err && isSignedRequest(request)) {
        request.deferredBodyError = err;
        return done(null, undefined);
      }
      done(err, value);
    });
  });

  installErrorHandlers(app);
  const metrics = installIngressMetrics(app, deps.metrics, deps.queue);
  app.decorateRequest('principal', null);
  app.decorateRequest('rawBody', null);
  app.decorateRequest('deferredBodyError', null);
  app.decorateRequest('webhookSignature', null);
  // one line per request, at debug only (metrics count every request; refusals and failures are
  // logged where they happen)
  if (logger.isLevelEnabled('debug')) {
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched';
      request.log.debug({ method: request.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
      done();
    });
  }

  const transcripts = new TranscriptReader(store, archive);
  const hub = new SseHub({
    store,
    keys: store.keys,
    reader: transcripts,
    redis: deps.redis,
    openBlockingRedis: deps.openBlockingRedis,
    connections: config.sse.redisConnections,
    blockMs: deps.sseBlockMs ?? 5_000,
    logger,
  });
  const streamMetrics = installStreamMetrics(deps.metrics, { open: () => hub.size, followed: () => hub.followed });
  const limits = new StreamLimits(config.sse, (cap) => streamMetrics.refused.inc({ cap }));
  app.addHook('preClose', async () => hub.closeAll());

  registerOpsRoutes(app, { redis: deps.redis, isShuttingDown: deps.isShuttingDown });
  registerViewerRoute(app, { store, archive, viewerSecret: deps.viewerSecret });
  registerTasksPageRoute(app);

  const intake = new TaskIntake({
    store,
    redis: deps.redis,
    queue: deps.queue,
    logger,
    idempotencyTtlSec: config.idempotencyTtlSec,
  });
  const canceler = new TaskCanceler(store, deps.redis, deps.queue, logger);
  const tasks: TaskServices = { config, store, archive, forge: deps.forge, github: deps.github, intake, canceler };
  const slack = config.slack;
  if (slack) {
    void app.register(async (scope) =>
      slackRoutes(scope, {
        ...tasks,
        slack,
        policy: deps.slackPolicy,
        redis: deps.redis,
        logger,
        viewerSecret: deps.viewerSecret,
        isShuttingDown: deps.isShuttingDown,
      }),
    );
  }

  const github = config.github;
  const webhookSecret = github?.webhookSecret;
  if (github && webhookSecret && deps.github) {
    const webhooks = new GitHubWebhooks({
      config,
      github: deps.github,
      store,
      archive,
      redis: deps.redis,
      intake,
      logger,
    });
    const autofix = new AutofixFollowUps({
      config,
      autofix: github.autofix,
      github: deps.github,
      store,
      archive,
      redis: deps.redis,
      intake,
      canceler,
      logger,
    });
    void app.register(async (scope) =>
      githubRoutes(scope, { github: { ...github, webhookSecret }, webhooks, autofix, isShuttingDown: deps.isShuttingDown }),
    );
  }

  // the operators' pages, only with admin tokens configured
  const admin = config.admin;
  if (admin) void app.register(async (scope) => adminRoutes(scope, { admin, queue: deps.queue, publicUrl: config.publicUrl }));

  // the model gateway: its own scope (body parser, limit, errors in the providers' shapes)
  void app.register(async (scope) => gatewayRoutes(scope, { config, redis: deps.redis, keys: store.keys, store, logger, metrics: deps.metrics }));

  const auth = new ApiTokenAuth(deps.apiTokens);
  const signatures = new WebhookSignatureAuth(config.webhookSecrets);
  registerEventsRoute(app, {
    store,
    reader: transcripts,
    archive,
    auth,
    viewerSecret: deps.viewerSecret,
    hub,
    limits,
    logger,
    heartbeatMs: deps.sseHeartbeatMs ?? 15_000,
    clientBuffer: config.sse.clientBuffer,
    onTooSlow: () => streamMetrics.tooSlow.inc(),
  });

  void app.register(async (api) => {
    api.addHook('onRequest', authenticateRequest({ tokens: auth, webhooks: signatures }));
    api.addHook('onRequest', (request, reply, done) => {
      if (request.method !== 'GET' && deps.isShuttingDown()) sendError(reply, unavailable());
      else done();
    });
    api.addHook('preValidation', verifySignature(signatures));
    registerTaskRoutes(api, {
      ...tasks,
      metrics,
      viewerSecret: deps.viewerSecret,
      spend: { redis: deps.redis, keys: store.keys },
    });
    registerRepoRoutes(api, deps.forge);
  });

  return app;
}
