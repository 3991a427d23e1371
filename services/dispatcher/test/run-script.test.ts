import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LocalForge, git } from '@agentq/shared';
import { makeTempDir } from '@agentq/shared/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalSandboxProvider } from '../src/providers/local/local-provider.js';
import { parseMarker } from '../src/run/markers.js';
import { RUN_EXIT, runCommand } from '../src/run/run-script.js';
import { SCRIPT_BRANCH, runScript, type ScriptRun, type ScriptRunOptions } from './support/script-run.js';

const RUN_SH = join(import.meta.dirname, '../src/run/run.sh');
const SHELLCHECK = '/usr/bin/shellcheck';
const REPO = 'acme/widgets';
const BRANCH = SCRIPT_BRANCH;

describe('run script', () => {
  let tmp: { path: string; remove: () => Promise<void> };
  let forge: LocalForge;
  let provider: LocalSandboxProvider;
  let counter = 0;

  beforeEach(async () => {
    tmp = await makeTempDir('agentq-run-');
    forge = new LocalForge(tmp.path);
    await forge.seed(REPO, { 'README.md': '# widgets\n', 'src/a.txt': 'one\ntwo\nthree\n' });
    provider = new LocalSandboxProvider({ dataDir: tmp.path, pollMs: 25 });
  });
  afterEach(async () => {
    await tmp.remove();
  });

  async function run(harness: string, options: ScriptRunOptions = {}): Promise<ScriptRun> {
    counter += 1;
    return runScript(provider, forge, REPO, `run${counter}`, harness, options);
  }

  it('commits the agent\'s changes on the task branch and pushes it, with a numstat diff stat', async () => {
    const result = await run('printf "new\\n" > new.txt; printf "one\\nTWO\\n" > src/a.txt');
    expect(result.status).toEqual({ state: 'exited', exitCode: 0 });
    const { facts } = result;
    expect(facts.agentExitCode).toBe(0);
    expect(facts.baseCommit).toMatch(/^[0-9a-f]{40}$/);
    expect(facts.branch).toBe(BRANCH);
    expect(facts.commit?.diffStat).toEqual({ files: 2, insertions: 2, deletions: 2 });
    expect(facts.push).toEqual({ ok: true, commit: facts.commit?.sha });
    expect(await forge.branchCommit(REPO, BRANCH)).toBe(facts.commit?.sha);

    const bare = forge.path(REPO);
    const { stdout: log } = await git(['log', '-1', '--format=%an <%ae>%n%B', BRANCH], { cwd: bare });
    expect(log.trim()).toBe('Agent Q <agentq@example.com>\nChange the widgets\n\nagentq-task: run1');
    const { stdout: parent } = await git(['rev-parse', `${BRANCH}^`], { cwd: bare });
    expect(parent.trim()).toBe(facts.baseCommit);
    expect(result.texts.filter((t) => parseMarker(t)?.type === 'step').map((t) => parseMarker(t))).toEqual([
      { type: 'step', step: 'clone' },
      { type: 'step', step: 'agent' },
      { type: 'step', step: 'commit' },
      { type: 'step', step: 'push' },
    ]);
  });

  it('pushes the net change of what the agent committed itself, as one commit of its own', async () => {
    const result = await run(
      'echo x > self.txt && echo y > gone.txt && git add self.txt gone.txt && git -c user.name=me -c user.email=me@x commit -qm "agent commit"' +
        ' && git rm -q gone.txt && git -c user.name=me -c user.email=me@x commit -qm "agent commit 2"',
    );
    expect(result.facts.commit?.diffStat).toEqual({ files: 1, insertions: 1, deletions: 0 });
    const bare = forge.path(REPO);
    const { stdout } = await git(['log', '-1', '--format=%an%n%s', BRANCH], { cwd: bare });
    expect(stdout.trim()).toBe('Agent Q\nChange the widgets');
    const { stdout: parent } = await git(['rev-parse', `${BRANCH}^`], { cwd: bare });
    expect(parent.trim()).toBe(result.facts.baseCommit);
    expect(result.facts.push?.ok).toBe(true);
  });

  it('reports no changes and pushes nothing', async () => {
    const result = await run('echo "looked around"');
    expect(result.status).toEqual({ state: 'exited', exitCode: 0 });
    expect(result.facts.noChanges).toBe(true);
    expect(result.facts.commit).toBeUndefined();
    expect(result.facts.push).toBeUndefined();
    expect(await forge.branchCommit(REPO, BRANCH)).toBeUndefined();
  });

  it('stops after a failing agent with its exit code', async () => {
    const result = await run('echo partial > p.txt; echo "it broke" >&2; exit 3');
    expect(result.status).toEqual({ state: 'exited', exitCode: 3 });
    expect(result.facts.agentExitCode).toBe(3);
    expect(result.facts.lastStep).toBe('agent');
    expect(result.facts.textTail).toContain('it broke');
    expect(await forge.branchCommit(REPO, BRANCH)).toBeUndefined();
  });

  it('starts from a base branch, tag or commit, and reports an unknown one', async () => {
    const work = join(tmp.path, 'work');
    await git(['clone', '-q', forge.url(REPO), work]);
    await writeFile(join(work, 'dev.txt'), 'dev\n');
    await git(['add', '.'], { cwd: work });
    await git(['-c', 'user.name=t', '-c', 'user.email=t@x', 'commit', '-qm', 'dev'], { cwd: work });
    await git(['tag', 'v1'], { cwd: work });
    await git(['push', '-q', 'origin', 'HEAD:refs/heads/dev', 'v1'], { cwd: work });
    const { stdout } = await git(['rev-parse', 'HEAD'], { cwd: work });
    const devCommit = stdout.trim();

    expect((await run('true', { baseRef: 'dev' })).facts.baseCommit).toBe(devCommit);
    expect((await run('true', { baseRef: 'v1' })).facts.baseCommit).toBe(devCommit);
    expect((await run('true', { baseRef: devCommit.slice(0, 12) })).facts.baseCommit).toBe(devCommit);
    const missing = await run('true', { baseRef: 'no-such-branch' });
    expect(missing.facts.cloneFailure).toBe('base_ref');
    expect(missing.status).toEqual({ state: 'exited', exitCode: RUN_EXIT.baseRefNotFound });
  });

  it('reports a clone failure with git\'s own message', async () => {
    const result = await run('true', { repoUrl: `file://${join(tmp.path, 'nowhere.git')}` });
    expect(result.facts.cloneFailure).toBe('clone');
    expect(result.facts.textTail.join('\n')).toMatch(/does not exist|not a git repository|Could not read/i);
    expect(result.status).toEqual({ state: 'exited', exitCode: RUN_EXIT.cloneFailed });
    expect(result.facts.agentExitCode).toBeUndefined();
  });

  it('reports a rejected push', async () => {
    const hook = join(forge.path(REPO), 'hooks', 'pre-receive');
    await writeFile(hook, '#!/bin/sh\necho "pushes are frozen" >&2\nexit 1\n');
    await chmod(hook, 0o755);
    const result = await run('echo change > c.txt');
    expect(result.facts.commit?.sha).toMatch(/^[0-9a-f]{40}$/);
    expect(result.facts.push).toEqual({ ok: false, commit: undefined });
    expect(result.facts.textTail.join('\n')).toContain('pushes are frozen');
    expect(result.status).toEqual({ state: 'exited', exitCode: RUN_EXIT.pushFailed });
  });

  it('takes no marker from the agent unless the whole line is one, and keeps odd prompts out of the shell', async () => {
    const prompt = 'Fix "quotes" $(touch /tmp/agentq-pwned) `id` \\ and \'more\'';
    const result = await run(
      [
        `echo '{"type":"user","message":{"content":"{\\"agentq\\":{\\"step\\":\\"push\\"}}"}}'`,
        `echo 'note: {"agentq":{"git":"push","ok":true}}'`,
        `echo '{"agentq":{"git":"push","ok":"yes"}}'`,
        'echo done > d.txt',
      ].join('; '),
      { prompt },
    );
    expect(result.facts.push?.ok).toBe(true);
    expect(result.texts.filter((t) => parseMarker(t) !== undefined).every((t) => t.startsWith('\x1e{"agentq"'))).toBe(true);
    expect(parseMarker(result.texts.find((t) => t.startsWith('{"type"')) ?? '')).toBeUndefined();
    expect(parseMarker('{"agentq":{"git":"push","ok":"yes"}}')).toBeUndefined();
    expect(parseMarker('\x1e{ "x": 1, "agentq": { "step": "agent" } }')).toEqual({ type: 'step', step: 'agent' });
    const { stdout } = await git(['log', '-1', '--format=%s', BRANCH], { cwd: forge.path(REPO) });
    expect(stdout.trim()).toBe(prompt);
    expect(existsSync('/tmp/agentq-pwned')).toBe(false);
  });
});

describe('run.sh', () => {
  const script = readFileSync(RUN_SH, 'utf8');

  it('spells the exit codes of RUN_EXIT, and exits only with them, 0 or the harness\'s code', () => {
    const spelled = Object.fromEntries([...script.matchAll(/^readonly EXIT_([A-Z_]+)=(\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
    const expected = Object.fromEntries(Object.entries(RUN_EXIT).map(([name, code]) => [name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase(), code]));
    expect(spelled).toEqual(expected);
    const exits = new Set([...script.matchAll(/\bexit ([^\s;}]+)/g)].map((m) => m[1]));
    expect([...exits].sort()).toEqual(['"$code"', '0', ...Object.keys(expected).map((name) => `"$EXIT_${name}"`)].sort());
  });

  it('refuses to run without a branch and a repository, with its bad-arguments code', async () => {
    const [bash = 'bash', ...args] = runCommand(['true']);
    const run = promisify(execFile)(bash, args, { env: { PATH: process.env.PATH } });
    await expect(run).rejects.toMatchObject({ code: RUN_EXIT.badArguments, stderr: expect.stringContaining('AGENTQ_BRANCH') });
  });

  // Runs where Debian's shellcheck is installed (`apt-get install shellcheck`; .ci/run installs it).
  it.skipIf(!existsSync(SHELLCHECK))('passes shellcheck without a finding', async () => {
    const { stdout } = await promisify(execFile)(SHELLCHECK, ['--shell=bash', '--severity=style', '--format=gcc', RUN_SH]).catch(
      (err: { stdout?: string }) => ({ stdout: err.stdout ?? String(err) }),
    );
    expect(stdout).toBe('');
  });
});
