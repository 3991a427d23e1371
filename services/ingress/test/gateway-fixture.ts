import { createLogger, mintGatewayToken } from '@agentq/shared';
import { request } from 'undici';
import { FakeModelApi } from '@agentq/shared/testing';
import { auth, startIngress, taskBody, type IngressFixture } from './ingress-fixture.js';

export const ANTHROPIC_KEY = 'sk-ant-real-upstream-key-0123456789';
export const OPENAI_KEY = 'sk-openai-real-upstream-key-0123456789';

export interface GatewayFixture {
  fx: IngressFixture;
  upstream: FakeModelApi;
  /** The listening ingress, `http://127.0.0.1:<port>`. */
  url: string;
  /** Log lines the ingress wrote. */
  logs: string[];
  /** A task of the API token's team (default: `default`) and a gateway token for it. */
  task(options?: { limits?: Record<string, unknown>; token?: string }): Promise<{ taskId: string; team: string; token: string }>;
  close(): Promise<void>;
}

/** A listening ingress whose gateway forwards to a fresh fake model API, keyed with test keys. */
export async function startGateway(redisUrl: string, env: Record<string, string> = {}): Promise<GatewayFixture> {
  const upstream = new FakeModelApi();
  const upstreamUrl = await upstream.start();
  const logs: string[] = [];
  const fx = await startIngress(redisUrl, {
    env: { ANTHROPIC_API_KEY: ANTHROPIC_KEY, ANTHROPIC_BASE_URL: upstreamUrl, OPENAI_API_KEY: OPENAI_KEY, OPENAI_BASE_URL: `${upstreamUrl}/v1`, ...env },
    logger: createLogger({ service: 'ingress', level: 'info', destination: { write: (line: string) => void logs.push(line) } }),
  }).catch(async (err: unknown) => {
    await upstream.stop();
    throw err;
  });
  const url = await fx.listen();
  return {
    fx,
    upstream,
    url,
    logs,
    task: async (options = {}) => {
      const res = await fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(options.token), payload: taskBody(options.limits ? { limits: options.limits } : {}) });
      if (res.statusCode !== 202) throw new Error(`task not created: ${res.statusCode} ${res.body}`);
      const taskId = (res.json() as { id: string }).id;
      const team = (await fx.store.require(taskId)).team;
      return { taskId, team, token: await mintGatewayToken(fx.redis, fx.keys, { taskId, team }, 3600) };
    },
    close: async () => {
      await fx.close();
      await upstream.stop();
    },
  };
}

/** A call through the gateway over a real socket; the body is read whole. */
export async function call(
  url: string,
  path: string,
  options: { token?: string; bearer?: boolean; body?: string | Buffer; method?: 'GET' | 'POST'; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
  if (options.token !== undefined) {
    if (options.bearer) headers.authorization = `Bearer ${options.token}`;
    else headers['x-api-key'] = options.token;
  }
  const res = await request(`${url}${path}`, { method: options.method ?? 'POST', headers, body: options.body ?? (options.method === 'GET' ? undefined : '{}') });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}
