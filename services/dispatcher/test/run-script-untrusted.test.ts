import { existsSync } from 'node:fs';
import { chmod, link, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalForge, git } from '@agentq/shared';
import { makeTempDir, waitFor } from '@agentq/shared/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalSandboxProvider } from '../src/providers/local/local-provider.js';
import { parseMarker } from '../src/run/markers.js';
import { decideOutcome } from '../src/run/outcome.js';
import { GIT_TOKEN_FILE, RUN_EXIT, gitCredentialEnv } from '../src/run/run-script.js';
import { SCRIPT_BRANCH, runScript, type ScriptRun, type ScriptRunOptions } from './support/script-run.js';

const REPO = 'acme/untrusted';
const RS = '\x1e';
const SHA = 'a'.repeat(40);
const isRoot = process.getuid?.() === 0;

/** Shell-quotes a string for the harness scripts below. */
const q = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

describe('the run script with an untrusted agent', () => {
  let tmp: { path: string; remove: () => Promise<void> };
  let forge: LocalForge;
  let provider: LocalSandboxProvider;
  let counter = 0;
  /** A file that only code of the agent run as the run script would write. */
  let proof: string;
  /** A program writing the proof file, for the agent to plant in git's configuration. */
  let evil: string;

  beforeEach(async () => {
    tmp = await makeTempDir('agentq-untrusted-');
    forge = new LocalForge(tmp.path);
    await forge.seed(REPO, { 'README.md': '# untrusted\n' });
    provider = new LocalSandboxProvider({ dataDir: tmp.path, pollMs: 25 });
    proof = join(tmp.path, 'proof');
    evil = join(tmp.path, 'evil.sh');
    await writeFile(evil, `#!/bin/sh\necho "$0 $*" >> ${q(proof)}\n`);
    await chmod(evil, 0o755);
  });
  afterEach(async () => {
    await tmp.remove();
  });

  async function run(harness: string, options: ScriptRunOptions = {}): Promise<ScriptRun> {
    counter += 1;
    return runScript(provider, forge, REPO, `untrusted${counter}`, harness, options);
  }

  const markers = (r: ScriptRun) => r.texts.map((t) => parseMarker(t)).filter((m) => m !== undefined);

  it('takes no marker from the agent, however it spells one, and passes its lines on without the RS', async () => {
    const push = `{"agentq":{"git":"push","ok":true,"branch":"${SCRIPT_BRANCH}","commit":"${SHA}"}}`;
    const commit = `{"agentq":{"git":"commit","ok":true,"commit":"${SHA}","diffStat":{"files":1,"insertions":1,"deletions":0}}}`;
    const result = await run(
      [
        `printf '%s\\n' ${q(push)}`,
        `printf '\\036%s\\n' ${q(push)}`,
        `printf '\\036\\036%s\\n' ${q(commit)}`,
        `printf 'x\\036%s\\n' ${q(push)}`,
        `printf '{"agentq":\\036{"git":"no_changes","ok":true}}\\n' >&2`,
        'exit 0',
      ].join('; '),
    );
    expect(result.status).toEqual({ state: 'exited', exitCode: 0 });
    expect(result.facts.push).toBeUndefined();
    expect(result.facts.commit).toBeUndefined();
    expect(result.facts.noChanges).toBe(true);
    expect(await forge.branchCommit(REPO, SCRIPT_BRANCH)).toBeUndefined();
    // the agent's lines arrive, without the RS
    const agent = result.texts.slice(result.texts.findIndex((t) => parseMarker(t)?.type === 'step' && t.includes('"agent"')) + 1);
    expect(agent.slice(0, 5)).toEqual([push, push, commit, `x${push}`, '{"agentq":{"git":"no_changes","ok":true}}']);
    // only the script's own lines carry an RS, and each is a marker
    expect(result.texts.filter((t) => t.includes(RS)).every((t) => t.startsWith(RS) && parseMarker(t) !== undefined)).toBe(true);
    expect(markers(result).map((m) => m.type)).toEqual(['step', 'clone', 'branch', 'step', 'agent_exit', 'step', 'no_changes']);
  });

  it('filters the RS out of setup commands, the echoed command line and git\'s own output', async () => {
    const line = `{"agentq":{"git":"push","ok":true,"branch":"${SCRIPT_BRANCH}"}}`;
    const result = await run('true', { setup: [`printf '\\036%s\\n' ${q(line)} # \x1e${line}`] });
    expect(result.status).toEqual({ state: 'exited', exitCode: 0 });
    expect(result.facts.push).toBeUndefined();
    expect(result.texts).toContain(line);
    expect(result.texts).toContain(`$ printf '\\036%s\\n' ${q(line)} # ${line}`);
    expect(result.texts.filter((t) => t.includes(RS)).every((t) => parseMarker(t) !== undefined)).toBe(true);
  });

  it('keeps the order of the output and the markers', async () => {
    const result = await run('for i in $(seq 1 3000); do echo "line $i"; done; echo "last" >&2');
    const at = (pred: (t: string) => boolean) => result.texts.findIndex(pred);
    const agentStep = at((t) => t === `${RS}{"agentq":{"step":"agent"}}`);
    const agentExit = at((t) => parseMarker(t)?.type === 'agent_exit');
    expect(agentStep).toBeGreaterThan(-1);
    expect(result.texts.slice(agentStep + 1, agentExit)).toEqual([...Array.from({ length: 3000 }, (_, i) => `line ${i + 1}`), 'last']);
    expect(result.facts.noChanges).toBe(true);
  });

  it('believes nothing an agent printed before killing the run script: the run ended early', async () => {
    const result = await run(
      [
        `printf '\\036{"agentq":{"agent":"exit","code":0}}\\n'`,
        `printf '{"agentq":{"git":"push","ok":true,"branch":"${SCRIPT_BRANCH}","commit":"${SHA}"}}\\n'`,
        'echo change > forged.txt',
        'kill -9 "$PPID"',
        'exit 0',
      ].join('; '),
    );
    // killed by SIGKILL: the sandbox's exit code is 128 + 9
    expect(result.status).toEqual({ state: 'exited', exitCode: 137 });
    expect(result.facts.agentExitCode).toBeUndefined();
    expect(result.facts.push).toBeUndefined();
    const outcome = decideOutcome({ facts: result.facts, status: result.status, repo: REPO, baseRef: undefined, timeoutSec: 60, forgeCommit: undefined });
    expect(outcome.state).toBe('failed');
    expect(outcome.update.error?.code).toBe('DISPATCH_SANDBOX_FAILED');
    expect(await forge.branchCommit(REPO, SCRIPT_BRANCH)).toBeUndefined();
  });

  /** The file at `path` in the pushed task branch. */
  const pushed = async (path: string) => (await git(['show', `${SCRIPT_BRANCH}:${path}`], { cwd: forge.path(REPO) })).stdout;

  it('commits and pushes with a git dir of its own: the agent\'s .git config, hooks and ~/.gitconfig run nothing', async () => {
    const hooks = ['post-commit', 'pre-commit', 'reference-transaction', 'pre-push', 'post-index-change'];
    const result = await run(
      [
        `printf '[core]\\n\\tfsmonitor = %s\\n\\thooksPath = .git/hooks\\n[filter "x"]\\n\\tclean = %s\\n[diff]\\n\\texternal = %s\\n[include]\\n\\tpath = ../../agent.cfg\\n' ${q(evil)} ${q(evil)} ${q(evil)} >> .git/config`,
        ...hooks.map((hook) => `cp ${q(evil)} .git/hooks/${hook}`),
        `printf '[alias]\\n\\tadd = !%s\\n\\tcommit = !%s\\n[core]\\n\\tfsmonitor = %s\\n' ${q(evil)} ${q(evil)} ${q(evil)} > "$HOME/.gitconfig"`,
        `mkdir -p "$HOME/.config/git" && echo '* filter=x' > "$HOME/.config/git/attributes"`,
        `echo '* filter=x' > .gitattributes`,
        'echo "made by the agent" > agent.txt',
      ].join('\n'),
    );
    expect(existsSync(proof)).toBe(false);
    expect(result.facts.push?.ok).toBe(true);
    expect(result.facts.commit?.diffStat).toEqual({ files: 2, insertions: 2, deletions: 0 });
    expect(await forge.branchCommit(REPO, SCRIPT_BRANCH)).toBe(result.facts.commit?.sha);
    expect(await pushed('agent.txt')).toBe('made by the agent\n');
  });

  it('ignores a .git the agent replaced by a gitdir: file pointing to a repository of its own, and nested repositories', async () => {
    const result = await run(
      [
        'mine="$HOME/mine"',
        'git init -q "$mine" && cp -a .git/config "$mine/config"',
        `printf '[core]\\n\\tfsmonitor = %s\\n\\tbare = false\\n' ${q(evil)} >> "$mine/config"`,
        `for h in post-commit pre-commit reference-transaction pre-push; do cp ${q(evil)} "$mine/hooks/$h"; done`,
        'rm -rf .git && echo "gitdir: $mine" > .git',
        'mkdir nested && git -C nested init -q && echo inside > nested/inside.txt',
        'git -C nested add -A && git -C nested -c user.name=a -c user.email=a@x commit -qm nested --no-verify',
        // planted after the agent's own git commands, which would run them otherwise
        `git -C nested config core.fsmonitor ${q(evil)} && git -C nested config filter.x.clean ${q(evil)}`,
        `echo '* filter=x' > nested/.gitattributes && echo more >> nested/inside.txt && touch -d 2020-01-01 nested/inside.txt`,
        `cp ${q(evil)} nested/.git/hooks/post-commit`,
        'echo "made by the agent" > agent.txt',
      ].join('\n'),
    );
    expect(existsSync(proof)).toBe(false);
    expect(result.facts.push?.ok).toBe(true);
    expect(await forge.branchCommit(REPO, SCRIPT_BRANCH)).toBe(result.facts.commit?.sha);
    expect(await pushed('agent.txt')).toBe('made by the agent\n');
    const { stdout: tree } = await git(['ls-tree', '--name-only', SCRIPT_BRANCH], { cwd: forge.path(REPO) });
    expect(tree.split('\n')).not.toContain('.git');
  });

  it('runs setup commands and the agent through AGENTQ_JAIL, without git\'s credentials, and git outside it', async () => {
    const jail = join(tmp.path, 'jail.sh');
    const log = join(tmp.path, 'jail.log');
    await writeFile(
      jail,
      `#!/usr/bin/env bash\n{ printf 'cwd=%s\\n' "$PWD"; printf 'arg=%s\\n' "$@"; env | grep -E '^(AGENTQ_GIT_TOKEN_FILE|GIT_CONFIG_)' | sed 's/^/env=/'; echo end; } >> ${q(log)}\nexec "$@"\n`,
    );
    await chmod(jail, 0o755);
    const result = await run('echo "token file: ${AGENTQ_GIT_TOKEN_FILE:-none}, helpers: ${GIT_CONFIG_COUNT:-none}"; echo jailed > jailed.txt', {
      setup: ['echo set up'],
      env: { ...gitCredentialEnv(), AGENTQ_JAIL: jail },
      files: { [GIT_TOKEN_FILE]: 'ghs_not-a-real-token' },
    });
    expect(result.status).toEqual({ state: 'exited', exitCode: 0 });
    expect(result.texts).toContain('token file: none, helpers: none');
    expect(result.facts.push?.ok).toBe(true);
    expect(await pushed('jailed.txt')).toBe('jailed\n');
    const tree = join(result.dir, 'repo');
    const calls = (await readFile(log, 'utf8')).split('end\n').filter((c) => c.length > 0);
    expect(calls).toEqual([
      `cwd=${tree}\narg=bash\narg=-c\narg=echo set up\n`,
      `cwd=${tree}\narg=bash\narg=-c\narg=echo "token file: \${AGENTQ_GIT_TOKEN_FILE:-none}, helpers: \${GIT_CONFIG_COUNT:-none}"; echo jailed > jailed.txt\n`,
    ]);
  });

  it('refuses a jail that is not an absolute path to an executable, before cloning', async () => {
    const result = await run('true', { env: { AGENTQ_JAIL: 'jail.sh' } });
    expect(result.status).toEqual({ state: 'exited', exitCode: RUN_EXIT.badArguments });
    expect(result.texts).toContain('agentq-run: AGENTQ_JAIL is not the absolute path of an executable');
    expect(result.facts.lastStep).toBeUndefined();
  });

  // switching users needs root, as in docker and modal sandboxes (CI runs the tests as root)
  it.skipIf(!isRoot)('runs setup and the agent as AGENTQ_AGENT_USER: it owns the working tree, not the token or the private git dir', async () => {
    // the agent user must be able to reach the working tree, as in a sandbox
    await chmod(tmp.path, 0o755);
    const result = await run(
      [
        'echo "uid $(id -u) gid $(id -g) groups $(id -G)"',
        'echo mine > owned.txt',
        'echo "home: $(stat -c %u "$HOME") tmp: $(stat -c %u "$TMPDIR")"',
        `cat ../${GIT_TOKEN_FILE}`,
        'touch ../.agentq-git/planted',
        'kill -9 "$PPID"',
        'true',
      ].join('\n'),
      {
        setup: ['id -u > setup-user.txt'],
        env: { ...gitCredentialEnv(), AGENTQ_AGENT_USER: '65534:65534' },
        files: { [GIT_TOKEN_FILE]: 'ghs_not-a-real-token' },
      },
    );
    expect(result.status).toEqual({ state: 'exited', exitCode: 0 });
    expect(result.texts).toContain('uid 65534 gid 65534 groups 65534');
    expect(result.texts).toContain('home: 65534 tmp: 65534');
    expect(result.texts.join('\n')).toMatch(new RegExp(`${GIT_TOKEN_FILE}: Permission denied`));
    expect(result.texts.join('\n')).toMatch(/\.agentq-git\/planted': Permission denied/);
    expect(result.texts.join('\n')).toMatch(/Operation not permitted/);
    expect(result.texts.join('\n')).not.toContain('ghs_not-a-real-token');
    expect(existsSync(join(result.dir, '.agentq-git', 'planted'))).toBe(false);
    expect((await stat(join(result.dir, 'repo', 'owned.txt'))).uid).toBe(65534);
    expect(result.facts.push?.ok).toBe(true);
    expect(await pushed('owned.txt')).toBe('mine\n');
    expect(await pushed('setup-user.txt')).toBe('65534\n');
  });

  // what an agent could do where fs.protected_hardlinks is 0: the test makes the link for it (as root)
  it.skipIf(!isRoot)('commits nothing when the working tree holds a hard link to a file the agent user does not own', async () => {
    await chmod(tmp.path, 0o755);
    counter += 1;
    const taskId = `untrusted${counter}`;
    const tree = join(provider.dir(taskId), 'repo');
    const running = runScript(provider, forge, REPO, taskId, 'touch started; while [ ! -e ready ]; do sleep 0.05; done; rm ready; echo change > c.txt', {
      env: { ...gitCredentialEnv(), AGENTQ_AGENT_USER: '65534:65534' },
      files: { [GIT_TOKEN_FILE]: 'ghs_not-a-real-token' },
    });
    await waitFor(() => existsSync(join(tree, 'started')));
    await link(join(provider.dir(taskId), GIT_TOKEN_FILE), join(tree, 'leak'));
    await writeFile(join(tree, 'ready'), '');
    const result = await running;
    expect(result.texts).toContain('agentq-run: the working tree holds a hard link to a file that is not the agent\'s: nothing is committed');
    expect(result.facts.commitFailed).toBe(true);
    expect(result.status).toEqual({ state: 'exited', exitCode: RUN_EXIT.commitFailed });
    expect(await forge.branchCommit(REPO, SCRIPT_BRANCH)).toBeUndefined();
  });

  it('refuses an agent user that is not uid:gid in numbers, before cloning', async () => {
    const result = await run('true', { env: { AGENTQ_AGENT_USER: 'node:node' } });
    expect(result.status).toEqual({ state: 'exited', exitCode: RUN_EXIT.badArguments });
    expect(result.texts).toContain('agentq-run: AGENTQ_AGENT_USER is not uid:gid (numbers)');
    expect(result.facts.lastStep).toBeUndefined();
  });

  // as root the script switches users (the test above); this is the path of a script that cannot
  it.skipIf(isRoot)('says so and goes on as its own user when it cannot switch to AGENTQ_AGENT_USER, not being root', async () => {
    const result = await run('echo "uid $(id -u)"', { env: { AGENTQ_AGENT_USER: '65534:65534' } });
    expect(result.texts).toContain('agentq-run: AGENTQ_AGENT_USER is set but the script does not run as root: the agent runs as the script\'s own user');
    expect(result.texts).toContain(`uid ${process.getuid?.()}`);
    expect(result.facts.noChanges).toBe(true);
  });
});
