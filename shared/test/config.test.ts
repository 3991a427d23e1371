import { afterAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  REDACTED,
  SETTINGS,
  configSecrets,
  createRedactor,
  loadConfig,
  resolveApiTokens,
  resolveViewerSecret,
  serviceSecrets,
  type SecretEnv,
} from '../src/index.js';
import { makeTempDir } from '../src/testing/index.js';

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

  it('serves the ingress\'s /metrics on a private port of its own', () => {
    expect(loadConfig({}).ingressOpsPort).toBe(8083);
    expect(loadConfig({ AGENTQ_PORT: '0', AGENTQ_INGRESS_OPS_PORT: '0' }).ingressOpsPort).toBe(0);
    expect(() => loadConfig({ AGENTQ_PORT: '9000', AGENTQ_INGRESS_OPS_PORT: '9000' })).toThrow(/AGENTQ_INGRESS_OPS_PORT: must differ from AGENTQ_PORT \(9000\)/);
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

  it('turns the admin pages on with admin tokens, read-only unless asked, and rejects short tokens without printing them', () => {
    expect(loadConfig({}).admin).toBeUndefined();
    expect(loadConfig({ AGENTQ_ADMIN_TOKENS: ' , ' }).admin).toBeUndefined();
    expect(loadConfig({ AGENTQ_ADMIN_TOKENS: 'admin-token-0123456789abcdef, admin-token-fedcba9876543210' }).admin).toEqual({
      tokens: ['admin-token-0123456789abcdef', 'admin-token-fedcba9876543210'],
      queueWrite: false,
    });
    expect(loadConfig({ AGENTQ_ADMIN_TOKENS: 'admin-token-0123456789abcdef', AGENTQ_ADMIN_QUEUE_WRITE: 'true' }).admin?.queueWrite).toBe(true);
    expect(() => loadConfig({ AGENTQ_ADMIN_TOKENS: 'short-admin' })).toThrow(/AGENTQ_ADMIN_TOKENS/);
    expect(() => loadConfig({ AGENTQ_ADMIN_TOKENS: 'short-admin' })).not.toThrow(/short-admin/);
  });

  it('picks claude-code when the model gateway has Anthropic credentials, demo otherwise; they never reach a sandbox', () => {
    const config = loadConfig({ ANTHROPIC_API_KEY: 'sk-ant-123456' });
    expect(config.harness).toBe('claude-code');
    expect(config.sandboxSecrets).toEqual({});
    expect(config.gateway.anthropic).toEqual({ apiKey: 'sk-ant-123456', authToken: undefined, baseUrl: 'https://api.anthropic.com' });
    expect(config.gateway.url).toBe('http://localhost:8080');
    expect(loadConfig({ ANTHROPIC_AUTH_TOKEN: 'bearer-123456', ANTHROPIC_BASE_URL: 'http://llm.internal/' }).gateway.anthropic?.baseUrl).toBe('http://llm.internal');
    expect(loadConfig({ ANTHROPIC_API_KEY: 'sk-ant-123456', AGENTQ_HARNESS: 'demo' }).harness).toBe('demo');
    expect(loadConfig({}).harness).toBe('demo');
    expect(loadConfig({}).gateway.anthropic).toBeUndefined();
    for (const name of ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN', 'OPENAI_API_KEY', 'CODEX_API_KEY']) {
      expect(() => loadConfig({ AGENTQ_SANDBOX_ENV: `FOO,${name}`, [name]: 'model-key-123456', FOO: 'x' })).toThrow(new RegExp(`${name} is a model key, which must not enter sandboxes`));
    }
  });

  it('reads the concurrency caps: none by default, a team list with `*` for the other teams', () => {
    expect(loadConfig({})).toMatchObject({ limits: { team: {} }, slotLeaseMs: 30_000, slotRecheckMs: 15_000 });
    expect(loadConfig({}).limits.global).toBeUndefined();
    const config = loadConfig({ AGENTQ_MAX_RUNNING: '20', AGENTQ_TEAM_MAX_RUNNING: 'platform:8, *:3', AGENTQ_REPO_MAX_RUNNING: '4', AGENTQ_SLOT_LEASE_MS: '5000' });
    expect(config.limits).toEqual({ global: 20, team: { platform: 8 }, otherTeams: 3, repo: 4 });
    expect(config.slotLeaseMs).toBe(5000);
    for (const bad of ['platform', 'platform:0', 'platform:-1', 'platform:2.5', 'a b:3', '**:1']) {
      expect(() => loadConfig({ AGENTQ_TEAM_MAX_RUNNING: bad }), bad).toThrow(/AGENTQ_TEAM_MAX_RUNNING: entry 1/);
    }
    expect(() => loadConfig({ AGENTQ_MAX_RUNNING: '0' })).toThrow(/AGENTQ_MAX_RUNNING/);
    expect(() => loadConfig({ AGENTQ_REPO_MAX_RUNNING: 'many' })).toThrow(/AGENTQ_REPO_MAX_RUNNING/);
  });

  it('switches the agent to uid:gid 1000:1000 by default, to another one, or to none when set empty', () => {
    expect(loadConfig({}).sandbox.agentUser).toBe('1000:1000');
    expect(loadConfig({ AGENTQ_SANDBOX_AGENT_USER: '65534:65534' }).sandbox.agentUser).toBe('65534:65534');
    expect(loadConfig({ AGENTQ_SANDBOX_AGENT_USER: '' }).sandbox.agentUser).toBeUndefined();
    expect(() => loadConfig({ AGENTQ_SANDBOX_AGENT_USER: 'node' })).toThrow(/AGENTQ_SANDBOX_AGENT_USER: must be uid:gid/);
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

describe('Slack configuration', () => {
  it('is off without Slack variables, and on with a bot token and signing secret', () => {
    expect(loadConfig({}).slack).toBeUndefined();
    const config = loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1-2-abc', SLACK_SIGNING_SECRET: 'signing-secret-1' });
    expect(config.slack).toMatchObject({ botToken: 'xoxb-1-2-abc', signingSecret: 'signing-secret-1', oauth: undefined, command: '/agent', apiUrl: 'https://slack.com/api/', statusIntervalMs: 3000 });
  });

  it('wants the signing secret, and all three install flow variables or none', () => {
    expect(() => loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1-2-abc' })).toThrow(/SLACK_SIGNING_SECRET/);
    expect(() => loadConfig({ SLACK_CLIENT_ID: 'id', SLACK_SIGNING_SECRET: 'signing-secret-1' })).toThrow(/set all three/);
    const config = loadConfig({ SLACK_CLIENT_ID: '123.456', SLACK_CLIENT_SECRET: 'client-secret-1', SLACK_STATE_SECRET: 'state-secret-0123456789', SLACK_SIGNING_SECRET: 'signing-secret-1', SLACK_API_URL: 'http://127.0.0.1:9/api' });
    expect(config.slack?.oauth).toEqual({ clientId: '123.456', clientSecret: 'client-secret-1', stateSecret: 'state-secret-0123456789' });
    expect(config.slack?.apiUrl).toBe('http://127.0.0.1:9/api/');
  });

  it('lists every secret for redaction', () => {
    const config = loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1-2-abc', SLACK_SIGNING_SECRET: 'signing-secret-1', AGENTQ_API_TOKENS: 'aaaaaaaaaaaaaaaa1', FOO: 'foo-value', AGENTQ_SANDBOX_ENV: 'FOO' });
    expect(configSecrets(config).sort()).toEqual(['aaaaaaaaaaaaaaaa1', 'foo-value', 'signing-secret-1', 'xoxb-1-2-abc'].sort());
  });
});

describe('GitHub configuration', () => {
  const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIabc\n-----END RSA PRIVATE KEY-----\n';

  it('is off without an App id, and on with the id and a key', () => {
    expect(loadConfig({}).github).toBeUndefined();
    const config = loadConfig({ GITHUB_APP_ID: '42', GITHUB_APP_PRIVATE_KEY: pem.replaceAll('\n', '\\n'), GITHUB_WEBHOOK_SECRET: 'hook-secret-1' });
    expect(config.github).toMatchObject({
      appId: 42,
      privateKey: pem,
      webhookSecret: 'hook-secret-1',
      apiUrl: 'https://api.github.com',
      gitUrl: 'https://github.com',
      repos: undefined,
      draftPrs: true,
      prLabels: ['agentq'],
      triggerLabel: 'agentq',
    });
    expect(configSecrets(config)).toEqual(expect.arrayContaining([pem, 'hook-secret-1']));
  });

  it('reads the key from a file, and parses repository rules with teams', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const path = join(mkdtempSync(join(tmpdir(), 'agentq-key-')), 'app.pem');
    writeFileSync(path, pem);
    const config = loadConfig({ GITHUB_APP_ID: '42', GITHUB_APP_PRIVATE_KEY_PATH: path, AGENTQ_GITHUB_REPOS: 'acme/api:platform, acme/*, *', GITHUB_API_URL: 'https://ghe.example/api/v3/' });
    expect(config.github?.privateKey).toBe(pem);
    expect(config.github?.repos).toEqual([
      { pattern: 'acme/api', team: 'platform' },
      { pattern: 'acme/*', team: 'default' },
      { pattern: '*', team: 'default' },
    ]);
    expect(config.github?.apiUrl).toBe('https://ghe.example/api/v3');
  });

  it('lists every problem: no key, two keys, a key that is not PEM, a bad rule, a secret without an App', () => {
    expect(() => loadConfig({ GITHUB_APP_ID: '42' })).toThrow(/set exactly one/);
    expect(() => loadConfig({ GITHUB_APP_ID: '42', GITHUB_APP_PRIVATE_KEY: pem, GITHUB_APP_PRIVATE_KEY_PATH: '/x' })).toThrow(/set exactly one/);
    expect(() => loadConfig({ GITHUB_APP_ID: '42', GITHUB_APP_PRIVATE_KEY: 'not-a-key' })).toThrow(/PEM/);
    expect(() => loadConfig({ GITHUB_APP_ID: '42', GITHUB_APP_PRIVATE_KEY: pem, AGENTQ_GITHUB_REPOS: 'acme' })).toThrow(/AGENTQ_GITHUB_REPOS/);
    expect(() => loadConfig({ GITHUB_WEBHOOK_SECRET: 'hook-secret-1' })).toThrow(/GITHUB_APP_ID/);
    expect(() => loadConfig({ GITHUB_APP_ID: '42', GITHUB_APP_PRIVATE_KEY_PATH: '/nonexistent/key.pem' })).toThrow(/cannot be read/);
  });
});

describe('secrets for redaction', () => {
  const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIsecretkeybody\n-----END RSA PRIVATE KEY-----\n';
  /** A valid value of each setting the table marks secret, and the secrets a redactor must get from it. */
  const samples: Record<SecretEnv, { env: Record<string, string>; secrets: string[] }> = {
    REDIS_URL: { env: { REDIS_URL: 'redis://agentq:p%40ss-word-1@localhost:6379/0' }, secrets: ['p%40ss-word-1', 'p@ss-word-1'] },
    AGENTQ_API_TOKENS: { env: { AGENTQ_API_TOKENS: 'token-one-0123456789,token-two-0123456789:platform' }, secrets: ['token-one-0123456789', 'token-two-0123456789'] },
    AGENTQ_WEBHOOK_SECRETS: { env: { AGENTQ_WEBHOOK_SECRETS: `${'w'.repeat(32)}:platform` }, secrets: ['w'.repeat(32)] },
    AGENTQ_CALLBACK_SECRET: { env: { AGENTQ_CALLBACK_SECRET: 'c'.repeat(32), AGENTQ_CALLBACK_HOSTS: 'hooks.example.com' }, secrets: ['c'.repeat(32)] },
    AGENTQ_VIEWER_SECRET: { env: { AGENTQ_VIEWER_SECRET: 'viewer-secret-0123456789' }, secrets: ['viewer-secret-0123456789'] },
    AGENTQ_ADMIN_TOKENS: { env: { AGENTQ_ADMIN_TOKENS: 'admin-token-one-0123456789,admin-token-two-0123456789' }, secrets: ['admin-token-one-0123456789', 'admin-token-two-0123456789'] },
    AWS_SECRET_ACCESS_KEY: { env: { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'aws-secret-key-1' }, secrets: ['aws-secret-key-1'] },
    AWS_SESSION_TOKEN: { env: { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'aws-secret-key-2', AWS_SESSION_TOKEN: 'aws-session-token-1' }, secrets: ['aws-session-token-1', 'aws-secret-key-2'] },
    MODAL_TOKEN_SECRET: { env: { MODAL_TOKEN_ID: 'ak-1', MODAL_TOKEN_SECRET: 'as-modal-secret-1' }, secrets: ['as-modal-secret-1'] },
    SLACK_BOT_TOKEN: { env: { SLACK_BOT_TOKEN: 'xoxb-1-2-bot', SLACK_SIGNING_SECRET: 'signing-secret-2' }, secrets: ['xoxb-1-2-bot', 'signing-secret-2'] },
    SLACK_SIGNING_SECRET: { env: { SLACK_BOT_TOKEN: 'xoxb-1-2-bot', SLACK_SIGNING_SECRET: 'signing-secret-3' }, secrets: ['signing-secret-3'] },
    SLACK_CLIENT_SECRET: {
      env: { SLACK_CLIENT_ID: '1.2', SLACK_CLIENT_SECRET: 'client-secret-2', SLACK_STATE_SECRET: 'state-secret-0123456789', SLACK_SIGNING_SECRET: 'signing-secret-4' },
      secrets: ['client-secret-2', 'state-secret-0123456789'],
    },
    SLACK_STATE_SECRET: {
      env: { SLACK_CLIENT_ID: '1.2', SLACK_CLIENT_SECRET: 'client-secret-3', SLACK_STATE_SECRET: 'state-secret-9876543210', SLACK_SIGNING_SECRET: 'signing-secret-5' },
      secrets: ['state-secret-9876543210'],
    },
    GITHUB_APP_PRIVATE_KEY: { env: { GITHUB_APP_ID: '42', GITHUB_APP_PRIVATE_KEY: pem.replaceAll('\n', '\\n') }, secrets: [pem, pem.replaceAll('\n', '\\n')] },
    GITHUB_WEBHOOK_SECRET: { env: { GITHUB_APP_ID: '42', GITHUB_APP_PRIVATE_KEY: pem, GITHUB_WEBHOOK_SECRET: 'hook-secret-2' }, secrets: ['hook-secret-2'] },
    ANTHROPIC_API_KEY: { env: { ANTHROPIC_API_KEY: 'sk-ant-gateway-key-1' }, secrets: ['sk-ant-gateway-key-1'] },
    ANTHROPIC_AUTH_TOKEN: { env: { ANTHROPIC_AUTH_TOKEN: 'anthropic-bearer-token-1' }, secrets: ['anthropic-bearer-token-1'] },
    OPENAI_API_KEY: { env: { OPENAI_API_KEY: 'sk-openai-gateway-key-1' }, secrets: ['sk-openai-gateway-key-1'] },
  };

  it('come from every setting the table marks secret', () => {
    const marked = SETTINGS.filter((s) => 'secret' in s && s.secret).map((s) => s.env);
    expect(Object.keys(samples).sort()).toEqual([...marked].sort());
    for (const [env, sample] of Object.entries(samples)) {
      const secrets = configSecrets(loadConfig(sample.env));
      for (const secret of sample.secrets) expect(secrets, env).toContain(secret);
    }
  });

  const dirs: { remove: () => Promise<void> }[] = [];
  afterAll(async () => {
    for (const dir of dirs) await dir.remove();
  });

  it('all reach the redactor each service builds from serviceSecrets, with the viewer secret and generated API token', async () => {
    const dir = await makeTempDir('agentq-service-secrets-');
    dirs.push(dir);
    for (const [env, sample] of Object.entries(samples)) {
      const redact = createRedactor(serviceSecrets(loadConfig({ ...sample.env, AGENTQ_DATA_DIR: dir.path })));
      for (const secret of sample.secrets) expect(redact(`a ${secret} b`), env).toBe(`a ${REDACTED} b`);
    }
    // nothing set: the viewer secret and the API token are generated into the data dir
    const generated = await makeTempDir('agentq-generated-secrets-');
    dirs.push(generated);
    const config = loadConfig({ AGENTQ_DATA_DIR: generated.path });
    const token = resolveApiTokens(config).tokens[0]?.token as string;
    const viewer = resolveViewerSecret(config);
    const redact = createRedactor(serviceSecrets(config));
    expect(redact(`token ${token} viewer ${viewer}`)).toBe(`token ${REDACTED} viewer ${REDACTED}`);
    // configured tokens replace the generated one
    expect(serviceSecrets(loadConfig({ AGENTQ_DATA_DIR: generated.path, AGENTQ_API_TOKENS: 'configured-token-1' }))).not.toContain(token);
  });

  it('include the password of REDIS_URL but not the rest of it', () => {
    const secrets = configSecrets(loadConfig({ REDIS_URL: 'redis://:hunter2-secret@redis.internal:6379' }));
    expect(secrets).toEqual(['hunter2-secret']);
    expect(configSecrets(loadConfig({ REDIS_URL: 'redis://redis.internal:6379' }))).toEqual([]);
  });
});
