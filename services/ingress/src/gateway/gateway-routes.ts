import { errorMessage, lookupGatewayToken, type Config, type GatewayGrant, type Logger, type RedisKeys, type TaskStore } from '@agentq/shared';
import { Transform, pipeline, type Readable } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { Agent, request as upstreamRequest, type Dispatcher } from 'undici';
import { INGRESS_ERRORS } from '../http/ingress-errors.js';
import { guardCall, type Refused } from './call-guard.js';
import { installGatewayMetrics } from './gateway-metrics.js';
import { loadPriceTable, type PriceTable } from './model-prices.js';
import { configuredProviders, providerError, type ProviderName } from './providers.js';
import { clientHeaders, clientToken, upstreamHeaders } from './proxy-headers.js';
import { UsageMeter } from './usage-meter.js';
import { UsageRecorder } from './usage-recorder.js';

/** Largest request body the gateway forwards (Claude Code sends whole conversations). */
export const GATEWAY_BODY_LIMIT_BYTES = 32 * 1024 * 1024;

export interface GatewayDeps {
  config: Config;
  redis: Redis;
  keys: RedisKeys;
  store: TaskStore;
  logger: Logger;
  metrics: Registry;
  /** Default: the built-in table with `config.gateway.pricesFile` on top. */
  prices?: PriceTable;
}

/** Refusals the client must not retry (a budget, a bad token): `x-should-retry: false` says so to the providers' SDKs. */
const FINAL_REFUSALS = new Set(['INGRESS_GATEWAY_UNAUTHORIZED', 'INGRESS_GATEWAY_NOT_CONFIGURED', 'INGRESS_GATEWAY_TASK_ENDED', 'INGRESS_GATEWAY_TASK_BUDGET', 'INGRESS_GATEWAY_TEAM_BUDGET']);

/**
 * The model gateway: `/llm/anthropic/*` and `/llm/openai/*` forwarded to the configured
 * upstreams with the real credential, for a caller holding a live task's gateway token, within
 * the task's and team's budgets and rates; the usage of each answer is metered as it passes.
 * Register it in a scope of its own: it replaces the body parsers and the error handler there.
 */
export async function gatewayRoutes(scope: FastifyInstance, deps: GatewayDeps): Promise<void> {
  const { config, redis, keys, store } = deps;
  const providers = configuredProviders(config.gateway);
  const prices = deps.prices ?? loadPriceTable(config.gateway);
  const metrics = installGatewayMetrics(deps.metrics);
  const logger = deps.logger.child({ component: 'gateway' });
  const recorder = new UsageRecorder({ redis, keys, store, prices, metrics, logger });
  // model calls may think for minutes before the headers, and pause long between chunks
  const agent = new Agent({ headersTimeout: 15 * 60_000, bodyTimeout: 10 * 60_000, keepAliveTimeout: 30_000 });
  scope.addHook('onClose', async () => agent.close());

  // bodies are forwarded as received, whatever their type, up to their own limit
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: GATEWAY_BODY_LIMIT_BYTES }, (_request, body, done) => done(null, body));

  const refuse = (reply: FastifyReply, provider: ProviderName, refused: Refused): FastifyReply => {
    const budget = refused.code === 'INGRESS_GATEWAY_TASK_BUDGET' || refused.code === 'INGRESS_GATEWAY_TEAM_BUDGET';
    // OpenAI clients (Codex) stop on a 429 `insufficient_quota`; Anthropic's on a 402 `billing_error`
    const openaiQuota = budget && provider === 'openai';
    const status = openaiQuota ? 429 : (INGRESS_ERRORS[refused.code].status ?? 500);
    const openaiCode = openaiQuota ? 'insufficient_quota' : status === 401 ? 'invalid_api_key' : status === 429 ? 'rate_limit_exceeded' : undefined;
    const error = providerError(provider, status, refused.message, openaiCode);
    metrics.refusals.inc({ provider, reason: refused.code.replace('INGRESS_GATEWAY_', '').toLowerCase() });
    metrics.calls.inc({ provider, status: String(status) });
    if (refused.retryAfterSec !== undefined) reply.header('retry-after', String(refused.retryAfterSec));
    if (FINAL_REFUSALS.has(refused.code)) reply.header('x-should-retry', 'false');
    return reply.code(error.status).type('application/json').send(JSON.stringify(error.body));
  };

  const providerOf = (request: FastifyRequest): ProviderName => (request.url.startsWith('/llm/openai') ? 'openai' : 'anthropic');

  scope.setErrorHandler((err: FastifyError, request, reply) => {
    const provider = providerOf(request);
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return refuse(reply, provider, { code: 'INGRESS_GATEWAY_BODY_TOO_LARGE', message: `agentq: request body over ${GATEWAY_BODY_LIMIT_BYTES} bytes` });
    }
    if (typeof err.statusCode === 'number' && err.statusCode < 500) {
      return refuse(reply, provider, { code: 'INGRESS_GATEWAY_BAD_REQUEST', message: 'agentq: the request could not be read' });
    }
    request.log.error({ code: 'INGRESS_INTERNAL', cause: errorMessage(err) }, 'model call failed');
    return refuse(reply, provider, { code: 'INGRESS_GATEWAY_UNAVAILABLE', message: 'agentq: the model gateway failed; retry later' });
  });

  const forward = async (provider: ProviderName, prefix: string, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const upstream = providers[provider];
    if (!upstream) {
      return refuse(reply, provider, { code: 'INGRESS_GATEWAY_NOT_CONFIGURED', message: `agentq: the model gateway has no ${provider} credential configured` });
    }
    const token = clientToken(request.headers);
    let grant: GatewayGrant | undefined;
    let refused: Refused | undefined;
    try {
      grant = token === undefined ? undefined : await lookupGatewayToken(redis, keys, token);
      if (grant) refused = await guardCall({ redis, keys, store, teamDailyUsd: config.teamDailyUsd, taskRpm: config.gateway.taskRpm, teamRpm: config.gateway.teamRpm }, grant, new Date());
    } catch (err) {
      logger.warn({ code: 'INGRESS_GATEWAY_UNAVAILABLE', cause: errorMessage(err) }, 'model call refused: Redis unavailable');
      return refuse(reply, provider, { code: 'INGRESS_GATEWAY_UNAVAILABLE', message: 'agentq: the model gateway cannot check the task now; retry later', retryAfterSec: 2 });
    }
    if (!grant) {
      logger.debug({ code: 'INGRESS_GATEWAY_UNAUTHORIZED', provider, tokenSent: token !== undefined }, 'model call refused');
      return refuse(reply, provider, { code: 'INGRESS_GATEWAY_UNAUTHORIZED', message: 'agentq: missing, unknown or revoked gateway token' });
    }
    if (refused) {
      logger.info({ code: refused.code, provider, taskId: grant.taskId, team: grant.team }, 'model call refused');
      return refuse(reply, provider, refused);
    }

    const abort = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) abort.abort();
    });
    let response: Dispatcher.ResponseData;
    try {
      response = await upstreamRequest(`${upstream.baseUrl}${request.url.slice(prefix.length)}`, {
        method: request.method as Dispatcher.HttpMethod,
        headers: upstreamHeaders(request.headers, upstream.credentials),
        body: Buffer.isBuffer(request.body) ? request.body : undefined,
        dispatcher: agent,
        signal: abort.signal,
      });
    } catch (err) {
      logger.warn({ code: 'INGRESS_GATEWAY_UPSTREAM_UNREACHABLE', provider, taskId: grant.taskId, cause: errorMessage(err) }, 'model call failed');
      return refuse(reply, provider, { code: 'INGRESS_GATEWAY_UPSTREAM_UNREACHABLE', message: `agentq: ${provider} could not be reached; retry later` });
    }
    metrics.calls.inc({ provider, status: String(response.statusCode) });
    const body = response.statusCode < 300 ? meterAsItPasses(provider, grant, response) : response.body;
    return reply.code(response.statusCode).headers(clientHeaders(response.headers)).send(body);
  };

  /** The answer's body as it passes, each chunk handed on at once after the meter read it. */
  const meterAsItPasses = (provider: ProviderName, grant: GatewayGrant, response: Dispatcher.ResponseData): Readable => {
    const contentType = String(response.headers['content-type'] ?? '');
    const meter = new UsageMeter(provider, contentType.includes('text/event-stream'));
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        meter.write(chunk);
        done(null, chunk);
      },
    });
    // metered when the answer ends, or as far as it came when either side broke off
    pipeline(response.body, tap, () => {
      const call = meter.end();
      if (meter.overflowed) logger.warn({ code: 'INGRESS_GATEWAY_METERING_FAILED', taskId: grant.taskId }, 'model answer too large to meter');
      if (call) void recorder.record(grant, call);
    });
    return tap;
  };

  const routeOptions = { bodyLimit: GATEWAY_BODY_LIMIT_BYTES };
  for (const [provider, prefix] of [['anthropic', '/llm/anthropic'], ['openai', '/llm/openai']] as const) {
    scope.all(`${prefix}/*`, routeOptions, async (request, reply) => forward(provider, prefix, request, reply));
  }
}
