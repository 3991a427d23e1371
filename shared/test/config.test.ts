import { describe, expect, it } from 'vitest';
import { ConfigError, SETTINGS, loadConfig } from '../src/index.js';

describe('loadConfig', () => {
  it('applies defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      redisPrefix: 'agentq',
      port: 8080,
      publicUrl: 'http://localhost:8080',
      sandboxProvider: 'local',
      harness: 'demo',
      claudeBin: 'claude',
      taskTimeoutSec: 3600,
      dispatcherConcurrency: 2,
      sandboxSecrets: {},
    });
    expect(config.dataDir).toMatch(/\.data$/);
  });

  it('lists every problem at once without echoing values', () => {
    let error: unknown;
    try {
      loadConfig({ AGENTQ_PORT: 'eighty', REDIS_URL: 'http://secret-host-name', AGENTQ_API_TOKENS: 'short', AGENTQ_LOG_LEVEL: 'loud' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems.join('\n')).toMatch(/AGENTQ_PORT/);
    expect(problems.join('\n')).toMatch(/REDIS_URL/);
    expect(problems.join('\n')).toMatch(/AGENTQ_LOG_LEVEL/);
    expect((error as ConfigError).message).not.toContain('secret-host-name');
    expect((error as ConfigError).code).toBe('CONFIG_INVALID');
  });

  it('parses API tokens with teams and rejects short ones without printing them', () => {
    const config = loadConfig({ AGENTQ_API_TOKENS: 'aaaaaaaaaaaaaaaa1, bbbbbbbbbbbbbbbb2:platform' });
    expect(config.apiTokens).toEqual([
      { token: 'aaaaaaaaaaaaaaaa1', team: 'default' },
      { token: 'bbbbbbbbbbbbbbbb2', team: 'platform' },
    ]);
    expect(() => loadConfig({ AGENTQ_API_TOKENS: 'tiny-token' })).toThrow(/entry 1/);
    expect(() => loadConfig({ AGENTQ_API_TOKENS: 'tiny-token' })).not.toThrow(/tiny-token/);
  });

  it('picks claude-code when Anthropic credentials reach the sandbox, demo otherwise', () => {
    expect(loadConfig({ ANTHROPIC_API_KEY: 'sk-ant-123456' }).harness).toBe('claude-code');
    expect(loadConfig({ ANTHROPIC_API_KEY: 'sk-ant-123456' }).sandboxSecrets).toEqual({ ANTHROPIC_API_KEY: 'sk-ant-123456' });
    expect(loadConfig({ ANTHROPIC_API_KEY: 'sk-ant-123456', AGENTQ_SANDBOX_ENV: 'OTHER' }).harness).toBe('demo');
    expect(loadConfig({ ANTHROPIC_API_KEY: 'sk-ant-123456', AGENTQ_HARNESS: 'demo' }).harness).toBe('demo');
    expect(loadConfig({}).harness).toBe('demo');
  });

  it('passes only the named variables into sandboxes and reports missing ones by name', () => {
    const config = loadConfig({ AGENTQ_SANDBOX_ENV: 'FOO,BAR', FOO: 'foo-value', HOME: '/root' });
    expect(config.sandboxSecrets).toEqual({ FOO: 'foo-value' });
    expect(config.missingSandboxVars).toEqual(['BAR']);
    expect(() => loadConfig({ AGENTQ_SANDBOX_ENV: 'NOT-A-NAME' })).toThrow(/not a variable name/);
  });

  it('documents every setting once', () => {
    const names = SETTINGS.map((s) => s.env);
    expect(new Set(names).size).toBe(names.length);
    for (const s of SETTINGS) expect(s.doc.length).toBeGreaterThan(10);
  });
});
