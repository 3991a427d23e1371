/*
 * `npm run bench -- image-sizes`: what each runtime target of the Dockerfile adds on top of its
 * base image, measured without a Docker engine by doing what its stages do, here, in temp dirs:
 * - dist: `npm run build`, then the dist/ folders the target copies from the build stage;
 * - node_modules: the target's `<target>-deps` stage, its `npm ci --omit=dev --workspace=…`
 *   command as written in the Dockerfile, run on the package manifests and the lockfile (npm's
 *   cache first: `--prefer-offline`), everything under /app it leaves;
 * - agent CLIs (dispatcher, and the sandbox image): `npm install --global` of Claude Code and
 *   Codex at the Dockerfile's versions into a temp prefix.
 * Sizes are bytes of the files (each hard-linked file once), as a layer stores them unpacked.
 * The apt packages of each target (tini, git, bubblewrap) are not measured. The base image's
 * size is a published figure, not measured here (BASE_IMAGE).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BUILD_PACKAGES } from '../scripts/build/build-packages.js';
import { argsOf, parseArg, parseDockerfile, stageChain } from '../test/support/dockerfile.js';

const ROOT = join(import.meta.dirname, '..');
const TARGETS = ['ingress', 'dispatcher', 'relay'] as const;
type Target = (typeof TARGETS)[number];

/**
 * The base image of every target, as the registry publishes it for linux/amd64 (approximate; the
 * Node 24 bookworm-slim images are about this size unpacked). Check a pulled one with
 * `docker image inspect node:24.11.1-bookworm-slim --format '{{.Size}}'`.
 */
export const BASE_IMAGE = { approxUnpackedMB: 225, approxCompressedMB: 80 } as const;

/** Bytes of the files under `path` (symlinks as links, each inode once). */
export function treeBytes(path: string, seen = new Set<string>()): number {
  const stat = lstatSync(path);
  const id = `${stat.dev}:${stat.ino}`;
  if (seen.has(id)) return 0;
  seen.add(id);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, entry) => sum + treeBytes(join(path, entry), seen), 0);
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

/** The package manifests, the lockfile and .npmrc (the `manifests` stage) in a fresh temp dir. */
function manifestsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentq-image-deps-'));
  for (const file of ['package.json', 'package-lock.json', '.npmrc', ...BUILD_PACKAGES.map((pkg) => `${pkg}/package.json`)]) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(join(ROOT, file), join(dir, file));
  }
  return dir;
}

function run(command: string, cwd: string): void {
  execFileSync('sh', ['-c', command], { cwd, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false', npm_config_loglevel: 'error' } });
}

/** The target's dist/ folders, as its `COPY --from=build` lines name them. */
function distBytes(target: Target, dockerfile: ReturnType<typeof parseDockerfile>): number {
  const seen = new Set<string>();
  return argsOf(stageChain(dockerfile, target), 'COPY')
    .map((copy) => copy.split(/\s+/))
    .filter((words) => words[0] === '--from=build')
    .reduce((sum, words) => sum + treeBytes(join(ROOT, (words[1] ?? '').replace(/^\/app\//, '')), seen), 0);
}

/** Runs the target's deps stage in a temp dir; the bytes it leaves under /app, manifests included. */
function depsBytes(target: Target, dockerfile: ReturnType<typeof parseDockerfile>): number {
  const dir = manifestsDir();
  try {
    for (const command of argsOf(stageChain(dockerfile, `${target}-deps`), 'RUN')) run(command, dir);
    return treeBytes(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The agent CLIs, installed globally into a temp prefix at the dispatcher stage's versions. */
function agentCliBytes(dockerfile: ReturnType<typeof parseDockerfile>): { bytes: number; versions: string } {
  const args = Object.fromEntries(argsOf(stageChain(dockerfile, 'dispatcher'), 'ARG').map(parseArg));
  const specs = [`@anthropic-ai/claude-code@${args.CLAUDE_CODE_VERSION}`, `@openai/codex@${args.CODEX_VERSION}`];
  const prefix = mkdtempSync(join(tmpdir(), 'agentq-image-clis-'));
  try {
    run(`npm install --global --prefix "${prefix}" --no-audit --no-fund ${specs.map((s) => `"${s}"`).join(' ')}`, ROOT);
    return { bytes: treeBytes(prefix), versions: specs.join(', ') };
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
}

export async function benchImageSizes(): Promise<void> {
  const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  const base = dockerfile.globalArgs.NODE_IMAGE ?? '';
  process.stdout.write('\nimage sizes: what each target adds on top of its base image (unpacked)\n');
  run('npm run build --silent > /dev/null', ROOT);
  const clis = agentCliBytes(dockerfile);
  const rows = TARGETS.map((target) => {
    const dist = distBytes(target, dockerfile);
    const deps = depsBytes(target, dockerfile);
    const agents = target === 'dispatcher' ? clis.bytes : 0;
    return { target, dist, deps, agents, total: dist + deps + agents };
  });
  process.stdout.write('| target | compiled dist | production node_modules | agent CLIs | measured layers |\n|---|---:|---:|---:|---:|\n');
  for (const r of rows) process.stdout.write(`| ${r.target} | ${mb(r.dist)} MB | ${mb(r.deps)} MB | ${r.agents ? `${mb(r.agents)} MB` : '–'} | ${mb(r.total)} MB |\n`);
  process.stdout.write(`| sandbox (deploy/sandbox) | – | – | ${mb(clis.bytes)} MB | ${mb(clis.bytes)} MB |\n`);
  process.stdout.write(`agent CLIs: ${clis.versions}; apt packages (tini, git, bubblewrap, the sandbox's tools) not measured\n`);
  process.stdout.write(
    `base image ${base}: about ${BASE_IMAGE.approxUnpackedMB} MB unpacked (about ${BASE_IMAGE.approxCompressedMB} MB compressed), the published size, not measured here\n`,
  );
}
