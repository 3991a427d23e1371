import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface OpsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  /** Resolves true when the service can do its work (Redis reachable, not shutting down). */
  ready: () => Promise<boolean>;
  /** More facts `/healthz` answers with, besides `ok` (nothing secret). */
  info?: () => Record<string, unknown>;
}

export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

/** `/healthz`, `/readyz` and `/metrics` for services that have no other HTTP server. */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, JSON.stringify({ error: { code: 'METHOD_NOT_ALLOWED', message: 'GET only' } }));
    if (path === '/healthz') return send(200, JSON.stringify({ ok: true, ...options.info?.() }));
    if (path === '/readyz') {
      options.ready().then(
        (ok) => send(ok ? 200 : 503, JSON.stringify({ ok })),
        () => send(503, JSON.stringify({ ok: false })),
      );
      return;
    }
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => send(200, text, options.registry.contentType),
        () => send(500, ''),
      );
      return;
    }
    send(404, JSON.stringify({ error: { code: 'NOT_FOUND', message: 'not found' } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  let closed: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
