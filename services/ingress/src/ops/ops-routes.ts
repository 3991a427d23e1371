import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';

export interface OpsRoutesOptions {
  redis: Redis;
  isShuttingDown: () => boolean;
}

/** Why the ingress cannot take work now, or undefined when it can. */
export async function notReadyReason(options: OpsRoutesOptions): Promise<string | undefined> {
  if (options.isShuttingDown()) return 'shutting down';
  try {
    await options.redis.ping();
    return undefined;
  } catch {
    return 'redis unavailable';
  }
}

/**
 * `/healthz` (the process answers) and `/readyz` (Redis answers and not shutting down) on the
 * public port, for load balancers. `/metrics` is served on the private ops port only.
 */
export function registerOpsRoutes(app: FastifyInstance, options: OpsRoutesOptions): void {
  app.get('/healthz', async () => ({ ok: true }));

  app.get('/readyz', async (_request, reply) => {
    const reason = await notReadyReason(options);
    if (reason) return reply.code(503).send({ ok: false, reason });
    return { ok: true };
  });
}
