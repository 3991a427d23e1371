import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, MODEL_KEY_VARS } from '@agentq/shared';
import { IMAGE_DEMO_AGENT_PATH } from '@agentq/dispatcher';
import { compiledPath } from '../scripts/build/build-packages.js';
import { composeValidator } from './support/compose-schema.js';
import { argsOf, execForm, parseDockerfile, stageChain } from './support/dockerfile.js';
import { documentedSecretKeys } from './support/secret-keys.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

type Obj = Record<string, unknown>;

describe('the sandbox image (deploy/sandbox/Dockerfile)', () => {
  const sandbox = parseDockerfile(readFileSync(join(ROOT, 'deploy/sandbox/Dockerfile'), 'utf8'));
  const services = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  const get = (name: string) => argsOf(sandbox.stages, name);

  it('has what the run script needs, and the Claude Code CLI the repository is tested with', () => {
    // one stage, on the Node of the service images
    expect(sandbox.stages.map((s) => s.from)).toEqual([services.globalArgs.NODE_IMAGE]);
    expect(sandbox.globalArgs.NODE_IMAGE).toMatch(/^node:24\.\d+\.\d+-bookworm-slim$/);
    expect(get('RUN').join('\n')).toMatch(/apt-get install -y --no-install-recommends bash ca-certificates coreutils .*git/);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    expect(get('ARG')).toContain(`CLAUDE_CODE_VERSION=${pkg.devDependencies['@anthropic-ai/claude-code']}`);
    expect(get('ARG')).toContain(`CODEX_VERSION=${pkg.devDependencies['@openai/codex']}`);
    expect(get('RUN').join('\n')).toContain('"@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}"');
    expect(get('ENV')).toContain('IS_SANDBOX=1');
  });

  it('has setpriv and the agent user the run script switches to by default', () => {
    expect(get('RUN').join('\n')).toMatch(/apt-get install [^\n]*\butil-linux\b/);
    const [uid, gid] = (loadConfig({}).sandbox.agentUser ?? '').split(':');
    expect(get('RUN').join('\n')).toContain(`test "$(id -u node):$(id -g node)" = ${uid}:${gid}`);
  });

  it('puts the demo agent where the demo harness looks for it in containers', () => {
    const copies = get('COPY').map((c) => c.split(/\s+/));
    expect(copies).toContainEqual(['services/dispatcher/src/harnesses/demo-agent.mjs', IMAGE_DEMO_AGENT_PATH]);
    for (const [source] of copies) expect(existsSync(join(ROOT, source ?? '')), `COPY ${source}`).toBe(true);
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    expect(ignored).not.toContain('services');
  });
});

describe('docker-compose.yml', () => {
  const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, Obj & { command?: string[]; environment?: Record<string, string>; volumes?: string[]; ports?: string[]; depends_on?: Obj; healthcheck?: { test: string[] } }>;
    volumes: Record<string, unknown>;
  };
  const nodeServices = { ingress: ['services/ingress/src/main.ts', '8080', 'AGENTQ_PORT'], dispatcher: ['services/dispatcher/src/main.ts', '8081', 'AGENTQ_DISPATCHER_PORT'], relay: ['services/log-relay/src/main.ts', '8082', 'AGENTQ_RELAY_PORT'] } as const;

  it('runs redis with an append-only file on a volume', () => {
    const redis = compose.services.redis;
    expect(redis?.image).toMatch(/^redis:7\.\d+\.\d+-alpine$/);
    expect(redis?.command).toEqual(expect.arrayContaining(['--appendonly', 'yes']));
    expect(redis?.volumes).toContain('redis-data:/data');
    expect(redis?.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);
    expect(Object.keys(compose.volumes).sort()).toEqual(['agentq-data', 'minio-data', 'redis-data']);
  });

  it.each(Object.entries(nodeServices))('runs the %s from its image target, whose command starts it, with env, data volume and health check', (name, [entry, port, portVar]) => {
    const service = compose.services[name];
    expect(service?.image).toBe(`agentq-${name}:local`);
    expect(service?.build).toEqual({ context: '.', target: name });
    expect(service?.command).toBeUndefined();
    expect(execForm(argsOf(stageChain(dockerfile, name), 'CMD').at(-1))).toEqual(['node', '--conditions=agentq-dist', compiledPath(entry)]);
    expect(existsSync(join(ROOT, entry))).toBe(true);
    const env = service?.environment ?? {};
    expect(env.REDIS_URL).toBe('redis://redis:6379/0');
    expect(env.AGENTQ_HOST).toBe('0.0.0.0');
    expect(env.AGENTQ_DATA_DIR).toBe('/data');
    expect(env[portVar]).toBe(port);
    // tokens come from the environment of `docker compose`, never from the file
    expect(env.AGENTQ_API_TOKENS).toBe('${AGENTQ_API_TOKENS:-}');
    expect(env.AGENTQ_VIEWER_SECRET).toBe('${AGENTQ_VIEWER_SECRET:-}');
    expect(service?.volumes).toContain('agentq-data:/data');
    expect(service?.depends_on).toEqual({ redis: { condition: 'service_healthy' }, setup: { condition: 'service_completed_successfully' }, 'minio-setup': { condition: 'service_completed_successfully' } });
    expect(service?.healthcheck?.test.join(' ')).toContain(`http://127.0.0.1:${port}/readyz`);
    const grace = Number(String(service?.stop_grace_period).replace(/s$/, '')) * 1000;
    expect(grace).toBeGreaterThan(Number(env.AGENTQ_SHUTDOWN_TIMEOUT_MS));
  });

  it('publishes only the ingress port and gives the model keys to the ingress only', () => {
    expect(compose.services.ingress?.ports).toEqual(['${AGENTQ_PORT:-8080}:8080']);
    for (const name of Object.keys(compose.services).filter((n) => n !== 'ingress')) expect(compose.services[name]?.ports, name).toBeUndefined();
    for (const modelKey of MODEL_KEY_VARS) {
      for (const [name, service] of Object.entries(compose.services)) {
        if (name === 'ingress' && ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY'].includes(modelKey)) expect(service.environment?.[modelKey]).toBe(`\${${modelKey}:-}`);
        else expect(service.environment?.[modelKey], `${name}: ${modelKey}`).toBeUndefined();
      }
    }
  });

  it('keeps transcripts in a pinned S3-compatible store whose bucket is created before the services start', () => {
    const { minio, 'minio-setup': setup } = compose.services;
    expect(minio?.image).toMatch(/^minio\/minio:RELEASE\.\d{4}-\d{2}-\d{2}T[\d-]+Z$/);
    expect(setup?.image).toMatch(/^minio\/mc:RELEASE\.\d{4}-\d{2}-\d{2}T[\d-]+Z$/);
    expect(minio?.volumes).toContain('minio-data:/data');
    expect(setup?.depends_on).toEqual({ minio: { condition: 'service_healthy' } });
    const env = compose.services.relay?.environment ?? {};
    const bucket = /^s3:\/\/([^/]+)\//.exec(env.AGENTQ_ARCHIVE_URL ?? '')?.[1];
    expect(bucket).toBeDefined();
    expect((setup?.entrypoint as string[]).join(' ')).toContain(`mc mb --ignore-existing local/${bucket}`);
    expect(new URL(env.AWS_ENDPOINT_URL_S3 ?? '').host).toBe('minio:9000');
    expect(env.AGENTQ_S3_FORCE_PATH_STYLE).toBe('true');
    // the services' S3 keys are MinIO's root user, from .env or the local default
    expect(env.AWS_ACCESS_KEY_ID).toBe((minio?.environment as Record<string, string>).MINIO_ROOT_USER);
    expect(env.AWS_SECRET_ACCESS_KEY).toBe((minio?.environment as Record<string, string>).MINIO_ROOT_PASSWORD);
    expect(compose.services.ingress?.environment?.AGENTQ_ARCHIVE_URL).toBe(env.AGENTQ_ARCHIVE_URL);
  });

  it('documents in .env.example every variable it reads, the Secret keys of deploy/k8s among them', () => {
    const example = readFileSync(join(ROOT, '.env.example'), 'utf8');
    const documented = new Set([...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    const used = new Set<string>();
    const collect = (value: unknown): void => {
      if (typeof value === 'string') for (const m of value.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)) used.add(m[1] ?? '');
      else if (value && typeof value === 'object') Object.values(value).forEach(collect);
    };
    collect(compose);
    expect([...used].sort()).toEqual([...documented].sort());
    const secretKeys = [...documentedSecretKeys(join(ROOT, 'deploy/k8s/README.md')).keys()];
    expect(secretKeys.length).toBeGreaterThan(15);
    for (const k of secretKeys.filter((x) => x !== 'REDIS_URL')) expect(documented, k).toContain(k);
    for (const line of example.split('\n').filter((l) => /^[A-Z]/.test(l))) expect(line, 'no values in the example').toMatch(/=$/);
  });

  it('is valid against the Compose specification, which catches a misspelled key', () => {
    const validate = composeValidator();
    expect(validate(compose)).toEqual([]);
    const broken = structuredClone(compose);
    (broken.services.relay as Obj).stop_grace_priod = '30s';
    expect(validate(broken).join('\n')).toMatch(/relay.*additionalProperty":"stop_grace_priod/);
  });

  it('prepares the shared data dir once before the services start', () => {
    const setup = compose.services.setup;
    // the compiled CLI's setup, which the ingress image carries
    expect(setup?.build).toEqual({ context: '.', target: 'ingress' });
    expect(setup?.image).toBe(compose.services.ingress?.image);
    expect(setup?.command).toEqual(['node', '--conditions=agentq-dist', compiledPath('cli/src/setup.ts')]);
    expect(existsSync(join(ROOT, 'cli/src/setup.ts'))).toBe(true);
    expect(setup?.restart).toBe('no');
    expect(setup?.volumes).toContain('agentq-data:/data');
  });
});
