import {
  OPEN_SLACK_POLICY,
  RedisInstallationStore,
  SLACK_BOT_SCOPES,
  errorMessage,
  loadSlackPolicyFile,
  type SlackConfig,
  type SlackPolicy,
} from '@agentq/shared';
import { InstallProvider, type CallbackOptions } from '@slack/oauth';
import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import { escapeHtml } from '../viewer/html-escape.js';
import { buildSlackApp, webClientOptions, type SlackAppDeps } from './slack-app.js';
import { slackLogger } from './slack-logger.js';

/** Largest Slack request accepted (interaction payloads carry the whole message). */
export const SLACK_BODY_LIMIT_BYTES = 1024 * 1024;

export type SlackRoutesDeps = Omit<SlackAppDeps, 'slack' | 'policy' | 'installer'> & {
  slack: SlackConfig;
  /** The policy; read from `slack.policyFile` (or open, without one) when not given. */
  policy?: SlackPolicy;
};

function page(res: ServerResponse, status: number, title: string, text: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>`);
}

/**
 * Slack on the ingress: `POST /slack/events` (slash command, events, interactions) through Bolt,
 * and, with the install flow configured, `GET /slack/install` and `GET /slack/oauth_redirect`.
 * Register it as its own plugin: it reads bodies raw, for the signature check.
 */
export async function slackRoutes(app: FastifyInstance, deps: SlackRoutesDeps): Promise<void> {
  const { slack, logger, config } = deps;
  const policy = deps.policy ?? (slack.policyFile ? await loadSlackPolicyFile(slack.policyFile) : OPEN_SLACK_POLICY);
  const installer = slack.oauth
    ? new InstallProvider({
        clientId: slack.oauth.clientId,
        clientSecret: slack.oauth.clientSecret,
        stateSecret: slack.oauth.stateSecret,
        installationStore: new RedisInstallationStore(deps.redis, deps.store.keys, slack.oauth.clientSecret),
        directInstall: true,
        installUrlOptions: { scopes: [...SLACK_BOT_SCOPES], redirectUri: `${config.publicUrl}/slack/oauth_redirect` },
        logger: slackLogger(logger),
        clientOptions: (({ logger: _l, ...rest }) => rest)(webClientOptions(slack, logger)),
      })
    : undefined;
  const { receiver } = buildSlackApp({ ...deps, slack, policy, installer });
  logger.info({ command: slack.command, installFlow: installer !== undefined, policyRules: policy.rules.length }, 'slack enabled');

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    ['application/x-www-form-urlencoded', 'application/json'],
    { parseAs: 'string', bodyLimit: SLACK_BODY_LIMIT_BYTES },
    (_request, body, done) => done(null, body),
  );

  app.post('/slack/events', { bodyLimit: SLACK_BODY_LIMIT_BYTES }, async (request, reply) => {
    const answer = await receiver.handle({
      rawBody: typeof request.body === 'string' ? request.body : '',
      headers: request.headers,
    });
    reply.code(answer.status);
    if (answer.contentType) reply.type(answer.contentType);
    return reply.send(answer.body);
  });

  if (!installer) return;
  const callbacks: CallbackOptions = {
    success: (installation, _options, _req, res) => {
      const where = installation.isEnterpriseInstall ? installation.enterprise?.name : installation.team?.name;
      logger.info({ teamId: installation.team?.id, enterpriseId: installation.enterprise?.id }, 'slack app installed');
      page(res, 200, 'agentq is installed', `agentq is now installed in ${where ?? 'your workspace'}. Try ${slack.command} help in Slack.`);
    },
    failure: (error, _options, _req, res) => {
      logger.warn({ code: error.code }, 'slack install failed');
      page(res, 400, 'agentq was not installed', 'The installation did not complete. Start again from /slack/install.');
    },
  };
  app.get('/slack/install', async (request, reply) => {
    reply.hijack();
    try {
      await installer.handleInstallPath(request.raw, reply.raw);
    } catch (err) {
      logger.error({ err: errorMessage(err) }, 'slack install link failed');
      if (!reply.raw.headersSent) page(reply.raw, 500, 'agentq', 'The install link could not be made.');
    }
  });
  app.get('/slack/oauth_redirect', async (request, reply) => {
    reply.hijack();
    try {
      await installer.handleCallback(request.raw, reply.raw, callbacks);
    } catch (err) {
      logger.error({ err: errorMessage(err) }, 'slack install callback failed');
      if (!reply.raw.headersSent) page(reply.raw, 500, 'agentq', 'The installation could not be completed.');
    }
  });
}
