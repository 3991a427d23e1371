import type { GitHubConfig } from '@agentq/shared';
import { Webhooks } from '@octokit/webhooks';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ingressError, invalidRequest, unavailable, type FieldProblem } from '../http/ingress-errors.js';
import type { AutofixFollowUps } from './autofix/autofix-followups.js';
import { autofixSignalOf, isSignalEvent } from './autofix/autofix-signals.js';
import type { GitHubWebhooks } from './github-webhooks.js';
import { triggerOf } from './webhook-triggers.js';

/** Largest webhook delivery accepted (GitHub caps payloads at 25 MB; the events agentq reads are far smaller). */
export const GITHUB_BODY_LIMIT_BYTES = 5 * 1024 * 1024;

export interface GitHubRoutesDeps {
  github: GitHubConfig & { webhookSecret: string };
  webhooks: GitHubWebhooks;
  autofix: Pick<AutofixFollowUps, 'handle'>;
  isShuttingDown: () => boolean;
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The JSON payload of a delivery: sent as JSON, or form-encoded in a `payload` field. */
function payloadOf(rawBody: string, contentType: string | undefined): Record<string, unknown> {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  const json = type === 'application/x-www-form-urlencoded' ? (new URLSearchParams(rawBody).get('payload') ?? '') : rawBody;
  const parsed: unknown = JSON.parse(json);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new SyntaxError('not a JSON object');
  return parsed as Record<string, unknown>;
}

/**
 * `POST /github/webhooks`: the GitHub App's webhook. The signature (`X-Hub-Signature-256`) over
 * the raw body is verified with `@octokit/webhooks` before anything else; `X-GitHub-Delivery`
 * names the delivery (a redelivery finds the task the first one queued). Answers 202 `{taskId}`
 * when a task was queued, 200 `{taskId}` for a redelivery, 200 `{handled}` when a pull request's
 * automatic follow-ups were reset or stopped, 200 `{ignored}` otherwise; a handled
 * event whose payload lacks the fields agentq reads (or has them of the wrong type) is a 400
 * `INGRESS_GITHUB_MALFORMED`, logged, and queues nothing.
 * Register it as its own plugin: it reads bodies raw.
 */
export async function githubRoutes(app: FastifyInstance, deps: GitHubRoutesDeps): Promise<void> {
  const verifier = new Webhooks({ secret: deps.github.webhookSecret });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    ['application/json', 'application/x-www-form-urlencoded'],
    { parseAs: 'string', bodyLimit: GITHUB_BODY_LIMIT_BYTES },
    (_request, body, done) => done(null, body),
  );

  app.post('/github/webhooks', { bodyLimit: GITHUB_BODY_LIMIT_BYTES }, async (request, reply) => {
    const rawBody = typeof request.body === 'string' ? request.body : '';
    const signature = header(request, 'x-hub-signature-256');
    const valid = signature !== undefined && rawBody.length > 0 && (await verifier.verify(rawBody, signature).catch(() => false));
    if (!valid) {
      request.log.info({ signed: signature !== undefined }, 'github delivery refused: bad signature');
      throw ingressError('INGRESS_UNAUTHORIZED', 'invalid or missing GitHub webhook signature');
    }
    const deliveryId = header(request, 'x-github-delivery');
    const event = header(request, 'x-github-event');
    if (!deliveryId || !event || deliveryId.length > 200) {
      throw invalidRequest([{ path: 'X-GitHub-Delivery, X-GitHub-Event', message: 'required' }], 'delivery');
    }
    let payload: Record<string, unknown>;
    try {
      payload = payloadOf(rawBody, header(request, 'content-type'));
    } catch {
      throw ingressError('INGRESS_MALFORMED_JSON', 'the delivery payload is not valid JSON');
    }
    const refuseMalformed = (fields: FieldProblem[]) => {
      request.log.warn({ delivery: deliveryId, event, code: 'INGRESS_GITHUB_MALFORMED', fields: fields.slice(0, 10) }, 'github delivery refused: payload of the wrong shape');
      const list = fields.slice(0, 10).map((p) => `${p.path}: ${p.message}`).join('; ');
      return ingressError('INGRESS_GITHUB_MALFORMED', `the ${event} delivery lacks fields agentq reads or has them of the wrong type: ${list}`, {
        details: { fields: fields.slice(0, 10) },
      });
    };
    const signal = autofixSignalOf(event, payload, { noAutofixLabel: deps.github.autofix.noAutofixLabel });
    if ('malformed' in signal) throw refuseMalformed(signal.malformed);
    if (isSignalEvent(event)) {
      if (!('signal' in signal)) {
        const reason = 'ignored' in signal ? signal.ignored : `event ${event} is not handled`;
        request.log.debug({ delivery: deliveryId, event, reason }, 'github delivery ignored');
        return reply.code(200).send({ ignored: reason });
      }
      if (deps.isShuttingDown()) throw unavailable();
      const outcome = await deps.autofix.handle(deliveryId, signal.signal);
      if ('taskId' in outcome) return reply.code(outcome.replayed ? 200 : 202).send({ taskId: outcome.taskId });
      return reply.code(200).send(outcome);
    }
    if ('signal' in signal) {
      // a person's comment on a pull request: its automatic follow-ups may start again
      if (deps.isShuttingDown()) throw unavailable();
      await deps.autofix.handle(deliveryId, signal.signal);
    }
    const found = triggerOf(event, payload, { triggerLabel: deps.github.triggerLabel });
    if ('malformed' in found) throw refuseMalformed(found.malformed);
    if ('ignored' in found) {
      request.log.debug({ delivery: deliveryId, event, reason: found.ignored }, 'github delivery ignored');
      return reply.code(200).send({ ignored: found.ignored });
    }
    if (deps.isShuttingDown()) throw unavailable();
    const outcome = await deps.webhooks.handle(deliveryId, found.trigger);
    if ('ignored' in outcome) return reply.code(200).send({ ignored: outcome.ignored });
    return reply.code(outcome.replayed ? 200 : 202).send({ taskId: outcome.taskId });
  });
}
