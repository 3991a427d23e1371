import { createLogger, loadConfig } from '@agentq/shared';
import { makeTempDir } from '@agentq/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProvider, providerWarnings } from '../src/providers/create-provider.js';

describe('the configured sandbox provider', () => {
  let tmp: { path: string; remove: () => Promise<void> };
  const logger = createLogger({ service: 'dispatcher', level: 'silent' });
  const config = (env: Record<string, string>) => loadConfig({ AGENTQ_DATA_DIR: tmp.path, ...env });

  beforeAll(async () => {
    tmp = await makeTempDir('agentq-providers-');
  });
  afterAll(async () => {
    await tmp.remove();
  });

  it.each([
    [{}, 'local'],
    [{ AGENTQ_SANDBOX_PROVIDER: 'docker', AGENTQ_DOCKER_HOST: 'tcp://127.0.0.1:1' }, 'docker'],
    [{ AGENTQ_SANDBOX_PROVIDER: 'modal', MODAL_TOKEN_ID: 'ak-test', MODAL_TOKEN_SECRET: 'as-test-secret' }, 'modal'],
  ] as const)('%j gives the %s provider, without connecting to anything', async (env, name) => {
    const provider = await createProvider(config(env), logger);
    expect(provider.name).toBe(name);
    await provider.close?.();
  });

  it('refuses an unknown provider and half a Modal token', () => {
    expect(() => config({ AGENTQ_SANDBOX_PROVIDER: 'kubernetes' })).toThrow(/AGENTQ_SANDBOX_PROVIDER/);
    expect(() => config({ AGENTQ_SANDBOX_PROVIDER: 'modal', MODAL_TOKEN_ID: 'ak-test' })).toThrow(/MODAL_TOKEN_ID, MODAL_TOKEN_SECRET: set both/);
    expect(() => config({ AGENTQ_SANDBOX_ALLOWED_DOMAINS: 'ok.example.com,not a domain' })).toThrow(/"not a domain" is not a domain name/);
  });

  it('warns when an allowlist is configured for a provider that does not enforce it', () => {
    expect(providerWarnings(config({ AGENTQ_SANDBOX_ALLOWED_DOMAINS: 'api.anthropic.com' }))).toEqual([
      'AGENTQ_SANDBOX_ALLOWED_DOMAINS is enforced by the modal provider only; local sandboxes are not limited by it',
    ]);
    expect(providerWarnings(config({ AGENTQ_SANDBOX_PROVIDER: 'modal', AGENTQ_SANDBOX_ALLOWED_DOMAINS: 'api.anthropic.com' }))).toEqual([]);
    expect(providerWarnings(config({ AGENTQ_SANDBOX_PROVIDER: 'docker' }))).toEqual([]);
  });
});
