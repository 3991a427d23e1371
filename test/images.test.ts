import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { validate, ValidationSeverity } from 'dockerfile-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, makeTempDir, startTestRedis, uniquePrefix, waitFor, type TestRedis } from '@agentq/shared/testing';
import { BUILD_PACKAGES, DIST_CONDITION, UNBUILT_SOURCES, buildAssets, compiledPath } from '../scripts/build/build-packages.js';
import { argsOf, execForm, parseDockerfile, stageChain } from './support/dockerfile.js';

const ROOT = join(import.meta.dirname, '..');
const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const rootPackage = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string }; devDependencies: Record<string, string> };

/** The runtime targets: the workspace packages each image carries and the source of the service it runs. */
const TARGETS = {
  ingress: { packages: ['shared', 'services/ingress', 'cli'], main: 'services/ingress/src/main.ts', portVar: 'AGENTQ_PORT' },
  dispatcher: { packages: ['shared', 'services/dispatcher'], main: 'services/dispatcher/src/main.ts', portVar: 'AGENTQ_DISPATCHER_PORT' },
  relay: { packages: ['shared', 'services/log-relay'], main: 'services/log-relay/src/main.ts', portVar: 'AGENTQ_RELAY_PORT' },
} as const;
type Target = keyof typeof TARGETS;
const AGENT_CLIS = ['@anthropic-ai/claude-code', '@openai/codex'];
/** Packages the image must run without: the TypeScript runtime and its compiler. */
const DEV_RUNTIME = ['tsx', 'esbuild', '@esbuild'];

const dockerAvailable = spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 }).status === 0;

/** The TypeScript sources `npm run build` compiles (relative to the root). */
function compiledSources(): string[] {
  return BUILD_PACKAGES.flatMap((pkg) =>
    readdirSync(join(ROOT, pkg, 'src'), { recursive: true, encoding: 'utf8' })
      .map((file) => `${pkg}/src/${file}`)
      .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts') && !UNBUILT_SOURCES.some((dir) => file.startsWith(`${dir}/`))),
  );
}

/** The `agentq-dist` targets of a package's exports. */
function distExports(pkg: string): string[] {
  const { exports } = JSON.parse(readFileSync(join(ROOT, pkg, 'package.json'), 'utf8')) as { exports: Record<string, string | Record<string, string>> };
  return Object.values(exports).flatMap((target) => (typeof target === 'string' ? [] : [target[DIST_CONDITION] ?? '']));
}

/**
 * What a runtime image holds, laid out in `dir`: the packages' manifests and dist/ (no sources),
 * and a node_modules with every installed package but the TypeScript runtime, the workspace links
 * pointing at the packages here.
 */
function layOutRuntime(dir: string, packages: readonly string[]): void {
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, '@agentq'), { recursive: true });
  for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
    if (entry.startsWith('.') || entry === '@agentq' || DEV_RUNTIME.includes(entry)) continue;
    symlinkSync(join(ROOT, 'node_modules', entry), join(modules, entry));
  }
  for (const pkg of packages) {
    mkdirSync(join(dir, pkg), { recursive: true });
    cpSync(join(ROOT, pkg, 'package.json'), join(dir, pkg, 'package.json'));
    cpSync(join(ROOT, pkg, 'dist'), join(dir, pkg, 'dist'), { recursive: true });
    if (existsSync(join(ROOT, pkg, 'node_modules'))) symlinkSync(join(ROOT, pkg, 'node_modules'), join(dir, pkg, 'node_modules'));
    const { name } = JSON.parse(readFileSync(join(ROOT, pkg, 'package.json'), 'utf8')) as { name: string };
    symlinkSync(join('..', '..', pkg), join(modules, '@agentq', basename(name)));
  }
}

/** The runtime target's command as written in the Dockerfile. */
function commandOf(target: Target): string[] {
  return execForm(argsOf(stageChain(dockerfile, target), 'CMD').at(-1));
}

describe('npm run build', () => {
  let layout: Awaited<ReturnType<typeof makeTempDir>>;
  let redis: TestRedis;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8', timeout: 280_000 });
    expect(build.status, `${build.stdout}\n${build.stderr}`).toBe(0);
    layout = await makeTempDir('agentq-image-');
    redis = await startTestRedis();
  }, 300_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await redis?.stop();
    await layout?.remove();
  });

  it('compiles every source of the built packages into dist/, next to the files the code reads', () => {
    const sources = compiledSources();
    expect(sources).toContain('services/ingress/src/main.ts');
    for (const source of sources) expect(existsSync(join(ROOT, compiledPath(source))), compiledPath(source)).toBe(true);
    const assets = buildAssets(ROOT);
    expect(assets).toEqual(expect.arrayContaining(['services/dispatcher/src/harnesses/demo-agent.mjs', 'services/dispatcher/src/run/run.sh']));
    for (const asset of assets) expect(readFileSync(join(ROOT, compiledPath(asset)), 'utf8'), asset).toBe(readFileSync(join(ROOT, asset), 'utf8'));
    // shared is typed by its declarations, which the services compile against
    expect(existsSync(join(ROOT, 'shared/dist/index.d.ts'))).toBe(true);
    expect(existsSync(join(ROOT, 'shared/dist/testing'))).toBe(false);
  });

  it('points every package export of the agentq-dist condition at a compiled file', () => {
    for (const pkg of BUILD_PACKAGES) {
      const targets = distExports(pkg);
      expect(targets.length, pkg).toBeGreaterThan(0);
      for (const target of targets) {
        expect(target, pkg).toMatch(/^\.\/dist\/.+\.js$/);
        expect(existsSync(join(ROOT, pkg, target)), `${pkg}: ${target}`).toBe(true);
      }
    }
  });

  it.each(Object.keys(TARGETS) as Target[])('gives the %s image a command that starts what the build produced', (target) => {
    const cmd = commandOf(target);
    expect(cmd).toEqual(['node', `--conditions=${DIST_CONDITION}`, compiledPath(TARGETS[target].main)]);
    expect(existsSync(join(ROOT, cmd[2] ?? ''))).toBe(true);
  });

  it('runs the compiled services from dist/ alone, where tsx cannot be resolved, and they answer /healthz', async () => {
    const dir = join(layout.path, 'app');
    layOutRuntime(dir, [...new Set(Object.values(TARGETS).flatMap((t) => t.packages))]);
    expect(existsSync(join(dir, 'shared/src'))).toBe(false);
    const fromDist = createRequire(join(dir, 'services/ingress/dist/main.js'));
    expect(() => fromDist.resolve('tsx')).toThrow(/Cannot find module 'tsx'/);

    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: layout.path,
      NODE_ENV: 'production',
      REDIS_URL: redis.url,
      AGENTQ_REDIS_PREFIX: uniquePrefix('img'),
      AGENTQ_DATA_DIR: join(layout.path, 'data'),
      AGENTQ_API_TOKENS: 'image-test-token-0123456789',
      AGENTQ_LOG_LEVEL: 'info',
    };
    const started = await Promise.all(
      (Object.keys(TARGETS) as Target[]).map(async (target) => {
        const port = await freePort();
        const [node, ...args] = commandOf(target);
        expect(node).toBe('node');
        const child = spawn(process.execPath, args, { cwd: dir, env: { ...env, [TARGETS[target].portVar]: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(child);
        const output: string[] = [];
        child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
        child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
        return { target, port, child, output };
      }),
    );
    for (const { target, port, child, output } of started) {
      const status = await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`the compiled ${target} exited (${child.exitCode}):\n${output.join('')}`);
          return (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status;
        },
        { timeoutMs: 30_000, what: `${target} /healthz` },
      );
      expect(status, target).toBe(200);
      const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
      expect(cmdline.join(' '), target).not.toMatch(/tsx|\.ts\b/);
      expect(output.join(''), target).not.toMatch(/ExperimentalWarning|tsx/);
    }
  });

  it('prepares a data dir with the compiled setup, as the ingress image runs it before the services', () => {
    const dir = join(layout.path, 'setup');
    layOutRuntime(dir, TARGETS.ingress.packages);
    const data = join(layout.path, 'setup-data');
    const run = spawnSync(process.execPath, [`--conditions=${DIST_CONDITION}`, 'cli/dist/setup.js'], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: layout.path, AGENTQ_DATA_DIR: data },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(`data dir ${data} is ready`);
    expect(readFileSync(join(data, 'api-token'), 'utf8').trim().length).toBeGreaterThan(20);
  });
});

/** Every problem the Docker validator of VS Code (dockerfile-utils) finds, warnings as errors, one line each. */
function lintDockerfile(content: string): string[] {
  const strict = ValidationSeverity.ERROR;
  const settings = {
    deprecatedMaintainer: strict,
    directiveCasing: strict,
    emptyContinuationLine: strict,
    instructionCasing: strict,
    instructionCmdMultiple: strict,
    instructionEntrypointMultiple: strict,
    instructionHealthcheckMultiple: strict,
    instructionJSONInSingleQuotes: strict,
    instructionWorkdirRelative: strict,
  };
  return validate(content, settings).map((d) => `${d.range.start.line + 1}: ${d.message}`);
}

describe('the Dockerfiles, linted', () => {
  it('finds a problem in a broken stage (the lint can fail)', () => {
    const broken = 'FROM node:24.11.1-bookworm-slim AS a\nWORKDIR app\nRUN echo ok\nCMD ["a"]\nCMD [\'b\']\nEXPOSE eighty\nCOPY --from= x y\n';
    expect(lintDockerfile(broken).length).toBeGreaterThanOrEqual(4);
  });

  it.each(['Dockerfile', 'deploy/sandbox/Dockerfile'])('%s: every stage passes the validator with no warning', (file) => {
    expect(lintDockerfile(readFileSync(join(ROOT, file), 'utf8'))).toEqual([]);
  });
});

describe('the Dockerfile', () => {
  const names = dockerfile.stages.map((s) => s.name);

  it('pins every base image to an exact release, the current Node LTS line (24)', () => {
    const external = dockerfile.stages.map((s) => s.from).filter((from) => !names.includes(from));
    expect(external.length).toBeGreaterThan(0);
    for (const from of external) {
      expect(from).toMatch(/^[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$/);
      expect(from).not.toMatch(/:latest\b/);
    }
    expect(new Set(external)).toEqual(new Set([dockerfile.globalArgs.NODE_IMAGE]));
    expect(dockerfile.globalArgs.NODE_IMAGE).toMatch(/^node:24\.\d+\.\d+-bookworm-slim$/);
    // the repository itself still supports Node 20 (what CI runs)
    expect(rootPackage.engines.node).toBe('>=20.19');
  });

  it('has a target per service, each from the common runtime stage, running as the non-root node user under tini', () => {
    for (const target of Object.keys(TARGETS)) {
      const chain = stageChain(dockerfile, target);
      expect(chain.map((s) => s.name), target).toEqual(['runtime', target]);
      expect(argsOf(chain, 'USER').at(-1), target).toBe('node');
      expect(execForm(argsOf(chain, 'ENTRYPOINT').at(-1)), target).toEqual(['/usr/bin/tini', '--']);
      expect(argsOf(chain, 'RUN').join('\n'), target).toMatch(/apt-get install -y --no-install-recommends [^\n]*\btini\b/);
      expect(argsOf(chain, 'ENV').join(' '), target).toContain('AGENTQ_DATA_DIR=/data');
      expect(argsOf(chain, 'RUN').join('\n'), target).toContain('chown node:node /data');
    }
  });

  it('installs the agent CLIs in the dispatcher image only, at the versions the repository is tested with', () => {
    for (const target of Object.keys(TARGETS) as Target[]) {
      const chain = stageChain(dockerfile, target);
      const runs = argsOf(chain, 'RUN').join('\n');
      for (const cli of AGENT_CLIS) expect(runs.includes(cli), `${target}: ${cli}`).toBe(target === 'dispatcher');
    }
    const dispatcher = stageChain(dockerfile, 'dispatcher');
    expect(argsOf(dispatcher, 'ARG')).toEqual(
      expect.arrayContaining([`CLAUDE_CODE_VERSION=${rootPackage.devDependencies['@anthropic-ai/claude-code']}`, `CODEX_VERSION=${rootPackage.devDependencies['@openai/codex']}`]),
    );
    const runs = argsOf(dispatcher, 'RUN').join('\n');
    expect(runs).toContain('"@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" "@openai/codex@${CODEX_VERSION}"');
    expect(runs).toMatch(/apt-get install -y --no-install-recommends [^\n]*\bbubblewrap\b[^\n]*\bgit\b/);
  });

  it('gives each image the production dependencies of its own packages only, and the build output of those', () => {
    for (const [target, { packages }] of Object.entries(TARGETS)) {
      const chain = stageChain(dockerfile, target);
      const copies = argsOf(chain, 'COPY').map((c) => c.split(/\s+/));
      const deps = copies.find((c) => c[0] === `--from=${target}-deps`);
      expect(deps, target).toEqual([`--from=${target}-deps`, '/app', './']);
      const install = argsOf(stageChain(dockerfile, `${target}-deps`), 'RUN').join('\n');
      expect(install).toContain('npm ci --omit=dev --ignore-scripts');
      expect([...install.matchAll(/--workspace=(\S+)/g)].map((m) => m[1])).toEqual(packages);
      const built = copies.filter((c) => c[0] === '--from=build').map((c) => c[1]);
      expect(built, target).toEqual(packages.map((pkg) => `/app/${pkg}/dist`));
    }
    const build = argsOf(stageChain(dockerfile, 'build'), 'RUN');
    expect(build).toEqual(['npm ci --ignore-scripts --no-audit --no-fund', 'npm run build']);
  });

  it('copies from the build context only what exists and is not ignored, and never the host dist/', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const entry of ['**/node_modules', '**/dist', '.git', '.data']) expect(ignored).toContain(entry);
    for (const needed of ['package.json', 'package-lock.json', 'shared', 'services', 'cli', 'scripts']) expect(ignored).not.toContain(needed);
    const sources = dockerfile.stages.flatMap((s) => argsOf([s], 'COPY')).map((c) => c.split(/\s+/)).filter((c) => !c[0]?.startsWith('--from='));
    expect(sources.length).toBeGreaterThan(10);
    for (const copy of sources) for (const source of copy.slice(0, -1)) expect(existsSync(join(ROOT, source)), `COPY ${source}`).toBe(true);
    // every package the build compiles, with its build config
    for (const pkg of BUILD_PACKAGES) for (const file of [`${pkg}/src`, `${pkg}/tsconfig.build.json`]) expect(sources.map((c) => c[0])).toContain(file);
  });
});

describe('the images, built', () => {
  it.skipIf(!dockerAvailable)('build with a Docker engine (skipped where `docker info` fails: no engine reachable) and run Node as uid 1000', () => {
    for (const target of Object.keys(TARGETS)) {
      const tag = `agentq-${target}:test-${uniquePrefix('img')}`;
      const build = spawnSync('docker', ['build', '--target', target, '-t', tag, '.'], { cwd: ROOT, encoding: 'utf8', timeout: 1_500_000 });
      expect(build.status, `${target}: ${build.stderr}`).toBe(0);
      const run = spawnSync('docker', ['run', '--rm', '--read-only', tag, 'node', '-p', 'process.version + " " + process.getuid()'], { encoding: 'utf8', timeout: 120_000 });
      expect(run.stdout.trim(), `${target}: ${run.stderr}`).toBe(`v${/node:(\d+\.\d+\.\d+)/.exec(dockerfile.globalArgs.NODE_IMAGE ?? '')?.[1]} 1000`);
      spawnSync('docker', ['image', 'rm', tag], { stdio: 'ignore' });
    }
  }, 3_600_000);
});
