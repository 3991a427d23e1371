import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';

export interface OpsRoutesOptions {
  redis: Redis;
  registry: Registry;
  isShuttingDown: () => boolean;
}

/** `/healthz` (the process answers), `/readyz` (Redis answers and not shutting down), `/metrics`. */
export function registerOpsRoutes(app: FastifyInstance, options: OpsRoutesOptions): void {
  app.get('/healthz', async () => ({ ok: true }));

  app.get('/readyz', async (_request, reply) => {
    if (options.isShuttingDown()) return reply.code(503).send({ ok: false, reason: 'shutting down' });
    try {
      await options.redis.ping();
      return { ok: true };
    } catch {
      return reply.code(503).send({ ok: false, reason: 'redis unavailable' });
    }
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await options.registry.metrics();
    return reply.type(options.registry.contentType).send(text);
  });
}
