import { execFile } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { delimiter, dirname, isAbsolute, join, sep } from 'node:path';

/**
 * How the `local` provider isolates the untrusted part of a run (the repository's setup commands
 * and the agent): `bwrap` runs it under bubblewrap, `none` as a plain process of this machine.
 */
export type LocalIsolation = 'bwrap' | 'none';

/** The name of the jail script in a sandbox directory; the run script finds it in `AGENTQ_JAIL`. */
export const JAIL_FILE = 'jail';
/** The run script's private git directory in the sandbox directory: never given to the agent. */
export const PRIVATE_GIT_DIR = '.agentq-git';

/** Directories of the machine the agent sees read-only (those that exist; symlinks stay symlinks). */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc', '/opt'];
/** Files of those directories that hold secrets of the machine, hidden from the agent. */
const SYSTEM_SECRETS = ['/etc/shadow', '/etc/shadow-', '/etc/gshadow', '/etc/gshadow-', '/etc/sudoers', '/etc/ssl/private', '/etc/sudoers.d'];

export interface JailLayout {
  /** The bubblewrap binary. */
  bwrap: string;
  /** The data directory: nothing of it is visible but the sandbox's own working tree, home and tmp. */
  dataDir: string;
  /** The sandbox's directory (`<dataDir>/sandboxes/<id>`), a real path. */
  dir: string;
  /** Files and directories the agent's program is read from (made visible read-only). */
  readPaths: readonly string[];
  /** Files that must stay hidden even where a visible directory holds them (the GitHub App key file...). */
  hide: readonly string[];
}

/** The first existing file `name` on `PATH`, or the path itself when it has a `/`. */
export function findProgram(name: string, path = process.env.PATH ?? ''): string | undefined {
  if (name.includes('/')) return existsSync(name) ? name : undefined;
  for (const entry of path.split(delimiter)) {
    if (!isAbsolute(entry)) continue;
    const candidate = join(entry, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

const isUnder = (path: string, root: string) => path === root || path.startsWith(root.endsWith(sep) ? root : `${root}${sep}`);

/** The package a file of a `node_modules` tree belongs to (its sibling files come with it), else the file itself. */
function packageRoot(file: string): string {
  const parts = file.split(sep);
  const at = parts.lastIndexOf('node_modules');
  if (at < 0 || at + 1 >= parts.length - 1) return file;
  const name = parts[at + 1] ?? '';
  const end = name.startsWith('@') ? at + 3 : at + 2;
  return end < parts.length ? parts.slice(0, end).join(sep) : file;
}

/** Quotes a word for bash. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

type Mount = [string, ...string[]];

/** The read-only mounts of a program path: the path as it is (a symlink stays one) and what it resolves to. */
function programMounts(path: string, bound: string[]): Mount[] {
  const found = findProgram(path, [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter));
  if (!found || !isAbsolute(found)) return [];
  const mounts: Mount[] = [];
  let real: string;
  try {
    real = realpathSync(found);
  } catch {
    return [];
  }
  const covered = (p: string) => bound.some((root) => isUnder(p, root));
  // a path named twice (the CLI, and again in AGENTQ_LOCAL_READ_PATHS) is mounted once
  if (lstatSync(found).isSymbolicLink() && !covered(found)) {
    mounts.push(['--symlink', readlinkSync(found), found]);
    bound.push(found);
  }
  const source = statSync(real).isDirectory() ? real : packageRoot(real);
  if (!covered(source)) {
    mounts.push(['--ro-bind', source, source]);
    bound.push(source);
  }
  return mounts;
}

/**
 * The bubblewrap arguments of a sandbox, up to (not including) its working tree: new user, pid,
 * IPC and UTS namespaces; the system directories, the Node that runs agentq and the agent's
 * program read-only; the machine's secret files and the rest of the data directory hidden; a new
 * `/proc` and `/dev`; the sandbox's `tmp` as `/tmp` and its home writable. Network stays shared:
 * agents need their model API.
 */
export function jailArgs(layout: JailLayout): string[] {
  const root = process.getuid?.() === 0;
  const uid = root ? 65534 : (process.getuid?.() ?? 65534);
  const gid = root ? 65534 : (process.getgid?.() ?? 65534);
  const args: string[] = [
    '--unshare-user', '--uid', String(uid), '--gid', String(gid),
    '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
    '--hostname', 'agentq-sandbox', '--die-with-parent', '--new-session',
    // first: what is mounted below /tmp later (a program under /tmp) stays visible
    '--bind', join(layout.dir, 'tmp'), '/tmp',
    '--setenv', 'TMPDIR', '/tmp',
  ];
  const bound: string[] = [];
  for (const path of SYSTEM_DIRS) {
    let stat;
    try {
      stat = lstatSync(path);
    } catch {
      continue;
    }
    if (stat.isSymbolicLink()) args.push('--symlink', readlinkSync(path), path);
    else {
      args.push('--ro-bind', path, path);
      bound.push(path);
    }
  }
  // a resolv.conf managed elsewhere (systemd-resolved): the file itself, not the directory
  try {
    const resolv = realpathSync('/etc/resolv.conf');
    if (!bound.some((r) => isUnder(resolv, r))) args.push('--ro-bind', resolv, resolv);
  } catch {
    // no resolv.conf: nothing to add
  }
  const nodePrefix = dirname(dirname(realpathSync(process.execPath)));
  const data = realpathOr(layout.dataDir);
  const programs = [nodePrefix, ...layout.readPaths].filter((p) => {
    const real = realpathOr(p);
    return !isUnder(real, data);
  });
  for (const path of programs) {
    for (const mount of programMounts(path, bound)) args.push(...mount);
  }
  for (const path of [...SYSTEM_SECRETS, ...sshHostKeys(), ...layout.hide]) {
    if (!isAbsolute(path) || !bound.some((r) => isUnder(path, r))) continue;
    let stat;
    try {
      stat = statSync(path);
    } catch {
      continue;
    }
    if (stat.isDirectory()) args.push('--tmpfs', path);
    else args.push('--ro-bind', '/dev/null', path);
  }
  if (bound.some((r) => isUnder(data, r))) args.push('--tmpfs', data);
  args.push(
    '--proc', '/proc',
    '--dev', '/dev',
    '--bind', join(layout.dir, 'home'), join(layout.dir, 'home'),
  );
  return args;
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function sshHostKeys(): string[] {
  try {
    return readdirSync('/etc/ssh').filter((n) => /^ssh_host_.*_key$/.test(n)).map((n) => join('/etc/ssh', n));
  } catch {
    return [];
  }
}

/**
 * The jail script of a sandbox: runs its arguments under bubblewrap (`jailArgs`) with the working
 * tree it is started in writable. It refuses to start anywhere but in a directory of the sandbox
 * other than the run script's private git directory, so it never exposes the sandbox's private files.
 */
export function jailScript(layout: JailLayout): string {
  const args = jailArgs(layout).map(shellQuote).join(' ');
  return [
    '#!/usr/bin/env bash',
    '# Runs a command of the untrusted part of a run (setup, agent) under bubblewrap; see jail.ts.',
    'set -u',
    `dir=${shellQuote(layout.dir)}`,
    'cwd=$(pwd -P) || exit 126',
    'rel=${cwd#"$dir"/}',
    `if [[ "$cwd" != "$dir"/* || "$rel" == ${PRIVATE_GIT_DIR} || "$rel" == ${PRIVATE_GIT_DIR}/* ]]; then`,
    `  echo "agentq-jail: $cwd is not a working directory of this sandbox" >&2; exit 126`,
    'fi',
    'tree=$dir/${rel%%/*}',
    `exec ${shellQuote(layout.bwrap)} ${args} --bind "$tree" "$tree" --chdir "$cwd" -- "$@"`,
    '',
  ].join('\n');
}

/** Writes the jail script of a sandbox (executable by its owner only). */
export async function writeJail(layout: JailLayout): Promise<string> {
  const path = join(layout.dir, JAIL_FILE);
  await writeFile(path, jailScript(layout), { mode: 0o700 });
  await chmod(path, 0o700);
  return path;
}

export type IsolationCheck = { ok: true } | { ok: false; reason: string };

/**
 * Whether bubblewrap works here as sandboxes use it: builds a jail in a scratch sandbox under
 * `root` and runs `true` in it.
 */
export async function checkBwrap(bwrap: string | undefined, dataDir: string, root: string): Promise<IsolationCheck> {
  if (!bwrap || !existsSync(bwrap)) return { ok: false, reason: 'bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)' };
  await mkdir(root, { recursive: true });
  const dir = realpathSync(await mkdtemp(join(root, '.isolation-check-')));
  try {
    for (const sub of ['work', 'home', 'tmp']) await mkdir(join(dir, sub));
    const jail = await writeJail({ bwrap, dataDir, dir, readPaths: [], hide: [] });
    const outcome = await new Promise<IsolationCheck>((resolve) => {
      execFile(jail, ['true'], { cwd: join(dir, 'work'), timeout: 15_000 }, (err, _stdout, stderr) => {
        if (!err) resolve({ ok: true });
        else resolve({ ok: false, reason: `bwrap does not work here: ${(stderr.trim() || err.message).split('\n')[0]}` });
      });
    });
    return outcome;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
