import { ConfigError, configSecrets, loadConfig } from '@agentq/shared';
import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { auth, queueSnapshot, startIngress, taskBody, type IngressFixture } from './ingress-fixture.js';

const CALLBACK_SECRET = 'callback-secret-for-tests-0123456789abcdef';
const CALLBACKS_ON = {
  AGENTQ_CALLBACK_SECRET: CALLBACK_SECRET,
  AGENTQ_CALLBACK_HOSTS: 'hooks.example.com, hooks.example.com:8443, *.ci.example.org,127.0.0.1:9,localhost:*,[::1]:8080,127.0.0.1,10.0.0.5,127.0.0.2,[fe80::1]',
};

let redis: TestRedis;
const fixtures: IngressFixture[] = [];

beforeAll(async () => {
  redis = await startTestRedis();
});
afterEach(async () => {
  for (const fx of fixtures.splice(0)) await fx.close();
});
afterAll(async () => {
  await redis.stop();
});

async function ingress(env: Record<string, string> = {}): Promise<IngressFixture> {
  const fx = await startIngress(redis.url, { env });
  fixtures.push(fx);
  return fx;
}

async function create(fx: IngressFixture, callbackUrl: string) {
  return fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody({ callbackUrl }) });
}

describe('callbackUrl with callbacks off', () => {
  it('is refused with 422 INGRESS_NOT_SUPPORTED naming the settings that turn callbacks on; nothing is written', async () => {
    const fx = await ingress();
    const res = await create(fx, 'https://hooks.example.com/agentq');
    expect(res.statusCode).toBe(422);
    const error = res.json().error as { code: string; message: string };
    expect(error.code).toBe('INGRESS_NOT_SUPPORTED');
    expect(error.message).toContain('AGENTQ_CALLBACK_SECRET');
    expect(error.message).toContain('AGENTQ_CALLBACK_HOSTS');
    expect(await queueSnapshot(fx)).toEqual({ jobs: 0, indexed: 0, relay: 0 });
  });
});

describe('callbackUrl with callbacks on', () => {
  const accepted = [
    'https://hooks.example.com/agentq?source=ci',
    'https://HOOKS.example.com./agentq',
    'https://hooks.example.com:8443/agentq',
    'https://build.ci.example.org/done',
    'https://a.b.ci.example.org/done',
    'http://127.0.0.1:9/done',
    'http://localhost:8080/done',
    'http://[::1]:8080/done',
    'https://127.0.0.1/done',
    'https://127.0.0.1:443/done',
    'http://127.0.0.1/done',
  ];
  for (const url of accepted) {
    it(`accepts ${url} and keeps it on the record`, async () => {
      const fx = await ingress(CALLBACKS_ON);
      const res = await create(fx, url);
      expect(res.statusCode).toBe(202);
      expect((await fx.store.require(res.json().id)).callbackUrl).toBe(url);
    });
  }

  const refused: { url: string; reason: string; host?: string }[] = [
    { url: 'https://evil.example.net/agentq', reason: 'host_not_allowed', host: 'evil.example.net' },
    { url: 'https://ci.example.org/done', reason: 'host_not_allowed', host: 'ci.example.org' },
    { url: 'https://hooks.example.com.evil.net/agentq', reason: 'host_not_allowed', host: 'hooks.example.com.evil.net' },
    { url: 'https://evil.net/#@hooks.example.com', reason: 'host_not_allowed', host: 'evil.net' },
    { url: 'https://10.0.0.1/agentq', reason: 'host_not_allowed', host: '10.0.0.1' },
    { url: 'http://hooks.example.com/agentq', reason: 'insecure', host: 'hooks.example.com' },
    { url: 'http://build.ci.example.org/agentq', reason: 'insecure', host: 'build.ci.example.org' },
    { url: 'https://hooks.example.com@evil.net/agentq', reason: 'credentials', host: 'evil.net' },
    { url: 'https://user:s3cr3t-pass@hooks.example.com/agentq', reason: 'credentials', host: 'hooks.example.com' },
    { url: 'https://hooks.example.com:6379/agentq', reason: 'port', host: 'hooks.example.com' },
    { url: 'https://hooks.example.com:80/agentq', reason: 'port', host: 'hooks.example.com' },
    { url: 'https://build.ci.example.org:8443/done', reason: 'port', host: 'build.ci.example.org' },
    { url: 'http://127.0.0.1:6379/done', reason: 'port', host: '127.0.0.1' },
    { url: 'http://[::1]:9/done', reason: 'port', host: '::1' },
    { url: 'https://10.0.0.5/done', reason: 'address', host: '10.0.0.5' },
    { url: 'https://127.0.0.2/done', reason: 'address', host: '127.0.0.2' },
    { url: 'https://[fe80::1]/done', reason: 'address', host: 'fe80::1' },
  ];
  for (const c of refused) {
    it(`refuses ${c.url} (${c.reason}) with 422 INGRESS_CALLBACK_NOT_ALLOWED; nothing is written`, async () => {
      const fx = await ingress(CALLBACKS_ON);
      const res = await create(fx, c.url);
      expect(res.statusCode).toBe(422);
      const error = res.json().error as { code: string; message: string; details: { reason: string; host?: string } };
      expect(error.code).toBe('INGRESS_CALLBACK_NOT_ALLOWED');
      expect(error.details).toEqual({ reason: c.reason, host: c.host });
      expect(error.message).not.toContain('s3cr3t-pass');
      expect(res.body).not.toContain('s3cr3t-pass');
      expect(await queueSnapshot(fx)).toEqual({ jobs: 0, indexed: 0, relay: 0 });
    });
  }

  it('checks the callback before the idempotency key is taken: a corrected retry with the same key is accepted', async () => {
    const fx = await ingress(CALLBACKS_ON);
    const headers = { ...auth(), 'idempotency-key': 'cb-1' };
    const refusedRes = await fx.app.inject({ method: 'POST', url: '/v1/tasks', headers, payload: taskBody({ callbackUrl: 'https://evil.example.net/' }) });
    expect(refusedRes.statusCode).toBe(422);
    const ok = await fx.app.inject({ method: 'POST', url: '/v1/tasks', headers, payload: taskBody({ callbackUrl: 'https://hooks.example.com/' }) });
    expect(ok.statusCode).toBe(202);
  });
});

describe('callback settings', () => {
  const base = { AGENTQ_DATA_DIR: '/tmp/agentq-callback-config' };

  it('are off unless both are set, and both set turn them on with the secret among the redacted values', () => {
    expect(loadConfig(base).callbacks).toBeUndefined();
    const config = loadConfig({ ...base, ...CALLBACKS_ON });
    expect(config.callbacks).toEqual({
      secret: CALLBACK_SECRET,
      hosts: ['hooks.example.com', 'hooks.example.com:8443', '*.ci.example.org', '127.0.0.1:9', 'localhost:*', '[::1]:8080', '127.0.0.1', '10.0.0.5', '127.0.0.2', '[fe80::1]'],
    });
    expect(configSecrets(config)).toContain(CALLBACK_SECRET);
  });

  const invalid: { name: string; env: Record<string, string>; problem: string }[] = [
    { name: 'the secret alone', env: { AGENTQ_CALLBACK_SECRET: CALLBACK_SECRET }, problem: 'set both' },
    { name: 'the hosts alone', env: { AGENTQ_CALLBACK_HOSTS: 'hooks.example.com' }, problem: 'set both' },
    { name: 'a short secret', env: { ...CALLBACKS_ON, AGENTQ_CALLBACK_SECRET: 'short-secret-0123456789' }, problem: 'AGENTQ_CALLBACK_SECRET' },
    { name: 'a host that is not one', env: { ...CALLBACKS_ON, AGENTQ_CALLBACK_HOSTS: 'hooks.example.com,https://x.example.com/' }, problem: '"https://x.example.com/" is not a host name' },
    { name: 'a bare wildcard', env: { ...CALLBACKS_ON, AGENTQ_CALLBACK_HOSTS: '*' }, problem: '"*" is not a host name' },
    { name: 'a port out of range', env: { ...CALLBACKS_ON, AGENTQ_CALLBACK_HOSTS: 'hooks.example.com:70000' }, problem: '"hooks.example.com:70000" is not a host name' },
    { name: 'an IPv6 address with a port outside brackets', env: { ...CALLBACKS_ON, AGENTQ_CALLBACK_HOSTS: 'hooks.example.com,::1:*' }, problem: '"::1:*" is not a host name' },
  ];
  for (const c of invalid) {
    it(`refuse ${c.name}, without echoing the secret`, () => {
      let caught: unknown;
      try {
        loadConfig({ ...base, ...c.env });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      const message = (caught as ConfigError).message;
      expect(message).toContain(c.problem);
      expect(message).not.toContain(CALLBACK_SECRET);
      expect(message).not.toContain('short-secret-0123456789');
    });
  }
});
