import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '@agentq/shared';
import { IMAGE_DEMO_AGENT_PATH } from '@agentq/dispatcher';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SERVICE_ENTRIES = ['services/ingress/src/main.ts', 'services/dispatcher/src/main.ts', 'services/log-relay/src/main.ts'];

type Obj = Record<string, unknown>;

describe('the Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() && !line.trim().startsWith('#'));
  const get = (name: string) => instructions.filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());

  it('builds one non-root node:20 image with production dependencies only', () => {
    expect(get('FROM')).toEqual(['node:20-bookworm-slim']);
    expect(get('RUN').join('\n')).toMatch(/apt-get install -y --no-install-recommends git .*tini/);
    expect(get('RUN').join('\n')).toContain('npm ci --omit=dev');
    expect(get('USER')).toEqual(['node']);
    // tsx runs the TypeScript at runtime, so it must survive --omit=dev
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Obj; devDependencies: Obj };
    expect(pkg.dependencies.tsx).toBeDefined();
    expect(pkg.devDependencies.tsx).toBeUndefined();
  });

  it('copies what exists and starts a service that exists', () => {
    for (const copy of get('COPY')) {
      const parts = copy.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const source of parts.slice(0, -1)) expect(existsSync(join(ROOT, source)), `COPY ${source}`).toBe(true);
    }
    const cmd = JSON.parse(get('CMD')[0] ?? '[]') as string[];
    expect(cmd.slice(0, 3)).toEqual(['node', '--import', 'tsx']);
    expect(SERVICE_ENTRIES).toContain(cmd[3]);
    expect(existsSync(join(ROOT, cmd[3] ?? ''))).toBe(true);
    expect(JSON.parse(get('ENTRYPOINT')[0] ?? '[]')).toEqual(['/usr/bin/tini', '--']);
    for (const entry of SERVICE_ENTRIES) expect(dockerfile).toContain(entry);
  });

  it('keeps local state and dependencies out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const entry of ['**/node_modules', '.git', '.data']) expect(ignored).toContain(entry);
    for (const needed of ['package.json', 'package-lock.json', 'shared', 'services', 'cli']) expect(ignored).not.toContain(needed);
  });
});

describe('the sandbox image (deploy/sandbox/Dockerfile)', () => {
  const dockerfile = readFileSync(join(ROOT, 'deploy/sandbox/Dockerfile'), 'utf8');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() && !line.trim().startsWith('#'));
  const get = (name: string) => instructions.filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());

  it('has what the run script needs, and the Claude Code CLI the repository is tested with', () => {
    expect(get('FROM')).toEqual(['node:20-bookworm-slim']);
    expect(get('RUN').join('\n')).toMatch(/apt-get install -y --no-install-recommends bash ca-certificates coreutils .*git/);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    expect(get('ARG')).toContain(`CLAUDE_CODE_VERSION=${pkg.devDependencies['@anthropic-ai/claude-code']}`);
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
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, Obj & { command?: string[]; environment?: Record<string, string>; volumes?: string[]; ports?: string[]; depends_on?: Obj; healthcheck?: { test: string[] } }>;
    volumes: Record<string, unknown>;
  };
  const nodeServices = { ingress: ['services/ingress/src/main.ts', '8080', 'AGENTQ_PORT'], dispatcher: ['services/dispatcher/src/main.ts', '8081', 'AGENTQ_DISPATCHER_PORT'], relay: ['services/log-relay/src/main.ts', '8082', 'AGENTQ_RELAY_PORT'] } as const;

  it('runs redis with an append-only file on a volume', () => {
    const redis = compose.services.redis;
    expect(redis?.image).toMatch(/^redis:7/);
    expect(redis?.command).toEqual(expect.arrayContaining(['--appendonly', 'yes']));
    expect(redis?.volumes).toContain('redis-data:/data');
    expect(redis?.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);
    expect(Object.keys(compose.volumes).sort()).toEqual(['agentq-data', 'redis-data']);
  });

  it.each(Object.entries(nodeServices))('runs the %s from the image with its command, env, data volume and health check', (name, [entry, port, portVar]) => {
    const service = compose.services[name];
    expect(service?.image).toBe('agentq:local');
    expect(service?.build).toBe('.');
    expect(service?.command).toEqual(['node', '--import', 'tsx', entry]);
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
    expect(service?.depends_on).toEqual({ redis: { condition: 'service_healthy' }, setup: { condition: 'service_completed_successfully' } });
    expect(service?.healthcheck?.test.join(' ')).toContain(`http://127.0.0.1:${port}/readyz`);
    const grace = Number(String(service?.stop_grace_period).replace(/s$/, '')) * 1000;
    expect(grace).toBeGreaterThan(Number(env.AGENTQ_SHUTDOWN_TIMEOUT_MS));
  });

  it('publishes only the ingress port and passes the Anthropic key only to the dispatcher', () => {
    expect(compose.services.ingress?.ports).toEqual(['${AGENTQ_PORT:-8080}:8080']);
    expect(compose.services.dispatcher?.ports).toBeUndefined();
    expect(compose.services.relay?.ports).toBeUndefined();
    expect(compose.services.dispatcher?.environment?.ANTHROPIC_API_KEY).toBe('${ANTHROPIC_API_KEY:-}');
    for (const name of ['ingress', 'relay', 'setup']) expect(compose.services[name]?.environment?.ANTHROPIC_API_KEY).toBeUndefined();
  });

  it('prepares the shared data dir once before the services start', () => {
    const setup = compose.services.setup;
    expect(setup?.command).toEqual(['node', '--import', 'tsx', 'cli/src/setup.ts']);
    expect(existsSync(join(ROOT, 'cli/src/setup.ts'))).toBe(true);
    expect(setup?.restart).toBe('no');
    expect(setup?.volumes).toContain('agentq-data:/data');
  });
});
