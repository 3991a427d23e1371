import { TASK_STATES, isFinalState, repoNameSchema, taskRequestSchema, taskSpend, viewerUrl } from '@agentq/shared';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { principalOf } from '../auth/request-auth.js';
import { guardSignatureReplay } from '../auth/signature-replay.js';
import { fieldProblems } from '../http/field-problems.js';
import { invalidRequest } from '../http/ingress-errors.js';
import { redisCall } from '../http/redis-call.js';
import type { IngressMetrics } from '../ops/ingress-metrics.js';
import { ForgeRepoCache } from './forge-repo-cache.js';
import { loadTask } from './task-access.js';
import { admitTaskRequest, type BudgetDeps } from './task-admission.js';
import type { TaskServices } from './task-services.js';

export const MAX_IDEMPOTENCY_KEY_CHARS = 200;
export const DEFAULT_LIST_LIMIT = 20;
export const MAX_LIST_LIMIT = 200;

export interface TaskRoutesOptions extends TaskServices {
  metrics: IngressMetrics;
  viewerSecret: string;
  /** Where the teams' spending is read (daily caps). */
  spend: BudgetDeps;
}

const listQuerySchema = z.object({
  state: z.enum(TASK_STATES).optional(),
  repo: repoNameSchema.optional(),
  limit: z.coerce.number().int().min(1).optional(),
});

function idempotencyKey(request: FastifyRequest): string | undefined {
  const value = request.headers['idempotency-key'];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_IDEMPOTENCY_KEY_CHARS || !/^[\x20-\x7e]+$/.test(value)) {
    throw invalidRequest([
      { path: 'Idempotency-Key', message: `must be 1 to ${MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters` },
    ]);
  }
  return value;
}

/**
 * The idempotency key of a create request: its `Idempotency-Key`, else, for a signed request,
 * its signature, so a redelivered webhook finds the task the first delivery created.
 */
function createKey(request: FastifyRequest): string | undefined {
  const key = idempotencyKey(request);
  if (key !== undefined) return key;
  return request.webhookSignature === null ? undefined : `sig:${request.webhookSignature}`;
}

/** The task API: create, read, list, cancel. */
export function registerTaskRoutes(app: FastifyInstance, options: TaskRoutesOptions): void {
  const { config, store, archive, intake, canceler } = options;
  const forge = new ForgeRepoCache(options.forge);
  const links = (id: string) => ({
    statusUrl: `${config.publicUrl}/v1/tasks/${id}`,
    viewerUrl: viewerUrl(config.publicUrl, options.viewerSecret, id),
  });

  app.post('/v1/tasks', { config: { signedRequests: true } }, async (request, reply) => {
    const principal = principalOf(request);
    const key = createKey(request);
    if (request.webhookSignature !== null) {
      await guardSignatureReplay(options.spend.redis, options.spend.keys, request.webhookSignature, idempotencyKey(request));
    }
    const parsed = taskRequestSchema.safeParse(request.body);
    if (!parsed.success) throw invalidRequest(fieldProblems(parsed.error));
    const body = parsed.data;
    const admission = await admitTaskRequest(body, {
      config,
      forge,
      github: options.github,
      budget: { ...options.spend, team: principal.team },
    });
    const result = await intake.submit({ team: principal.team, request: body, idempotencyKey: key, forge: admission.forge });
    const answer = { id: result.id, state: result.state, ...links(result.id) };
    reply.header('location', answer.statusUrl);
    if (result.replayed) return reply.code(200).header('idempotent-replayed', 'true').send(answer);
    options.metrics.tasksCreated.inc({ team: principal.team });
    // at debug: accepting tasks is the hot path (agentq_tasks_created_total counts them, the record keeps who and what)
    const signed = request.webhookSignature !== null;
    request.log.debug({ taskId: result.id, repo: body.repo, team: principal.team, forge: admission.forge, signed }, 'task accepted');
    return reply.code(202).send(answer);
  });

  app.get<{ Params: { id: string } }>('/v1/tasks/:id', async (request) => {
    const task = await loadTask(store, archive, request.params.id, principalOf(request));
    // what the model gateway metered so far: the live cost of a running task
    const spentUsd = await redisCall(() => taskSpend(options.spend.redis, options.spend.keys, task.id));
    return spentUsd > 0 ? { ...task, spentUsd } : task;
  });

  app.get('/v1/tasks', async (request) => {
    const principal = principalOf(request);
    const parsed = listQuerySchema.safeParse(request.query);
    if (!parsed.success) throw invalidRequest(fieldProblems(parsed.error, 'query'), 'query');
    const { state, repo, limit } = parsed.data;
    const tasks = await redisCall(async () => {
      const found = await store.list({
        limit: Math.min(limit ?? DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT),
        state,
        repo,
        team: principal.admin ? undefined : principal.team,
      });
      // each with its viewer link, and what the gateway metered so far for a task not yet ended
      return Promise.all(
        found.map(async (task) => {
          const spentUsd = isFinalState(task.state) ? 0 : await taskSpend(options.spend.redis, options.spend.keys, task.id);
          const viewer = viewerUrl(config.publicUrl, options.viewerSecret, task.id);
          return spentUsd > 0 ? { ...task, spentUsd, viewerUrl: viewer } : { ...task, viewerUrl: viewer };
        }),
      );
    });
    return { tasks };
  });

  app.post<{ Params: { id: string } }>('/v1/tasks/:id/cancel', { config: { signedRequests: true } }, async (request, reply) => {
    const task = await loadTask(store, archive, request.params.id, principalOf(request));
    const result = await canceler.cancel(task);
    request.log.info({ taskId: task.id, state: result.state, signed: request.webhookSignature !== null }, 'cancel requested');
    return reply.code(202).send(result);
  });
}
