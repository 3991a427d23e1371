import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, waitFor } from '@agentq/shared/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalSandboxProvider } from '../src/providers/local/local-provider.js';
import type { SandboxHandle, SandboxSpec } from '../src/providers/sandbox-provider.js';

// The jail of `local` sandboxes, tried by a hostile program run through it as the run script runs
// the agent (`"$AGENTQ_JAIL" <command>` from the working tree). bubblewrap is installed wherever
// these tests run (CI installs it): they fail, never skip, where it is missing.

async function output(handle: SandboxHandle): Promise<string> {
  await handle.wait();
  const lines: string[] = [];
  for await (const chunk of handle.output(0)) lines.push(...chunk.map((l) => l.text));
  return lines.join('\n');
}

/** The program runs through the jail from `<sandbox>/repo`, as the run script runs the agent. */
function jailed(taskId: string, program: string, extra: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    taskId,
    command: ['bash', '-c', 'mkdir -p repo && cd repo && "$AGENTQ_JAIL" bash -c "$1"; echo "jail exit $?"', 'run', program],
    env: {},
    secrets: {},
    tags: { agentq_task: taskId },
    files: { 'git-token': 'ghs_privateTokenOfTheRunScript' },
    ...extra,
  };
}

/** Pids (of this machine) whose command line is exactly `command`. */
function processesRunning(command: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8') === `${command.split(' ').join('\0')}\0`) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe('isolation of local sandboxes (bubblewrap)', () => {
  let tmp: { path: string; remove: () => Promise<void> };
  let provider: LocalSandboxProvider;
  let outside: { path: string; remove: () => Promise<void> };

  beforeEach(async () => {
    tmp = await makeTempDir('agentq-jail-');
    outside = await makeTempDir('agentq-outside-');
    const choice = await LocalSandboxProvider.resolveIsolation(undefined, { dataDir: tmp.path });
    expect(choice, 'bubblewrap must be installed and working here (apt-get install bubblewrap)').toEqual({ isolation: 'bwrap' });
    await writeFile(join(outside.path, 'tool.sh'), 'echo the configured tool runs\n');
    provider = new LocalSandboxProvider({
      dataDir: tmp.path,
      graceMs: 300,
      pollMs: 25,
      isolation: 'bwrap',
      readPaths: [join(outside.path, 'tool.sh')],
      hide: [],
    });
  });
  afterEach(async () => {
    await tmp.remove();
    await outside.remove();
  });

  it('shows the agent its working tree, home and /tmp, and nothing else of the data dir, the machine or its processes', async () => {
    const data = tmp.path;
    await writeFile(join(data, 'api-token'), 'aq_theApiTokenOfThePlatform\n', { mode: 0o600 });
    await writeFile(join(data, 'viewer-secret'), 'theViewerSecretOfThePlatform\n', { mode: 0o600 });
    await mkdir(join(data, 'repos', 'demo', 'hello.git'), { recursive: true });
    await writeFile(join(outside.path, 'secret.txt'), 'a file outside the sandbox\n');
    // another task's sandbox, with a transcript and a session
    const other = await provider.create(jailed('othertask', 'echo other agent; echo session-of-another-team > "$HOME/session.json"'));
    await output(other);
    const otherDir = join(data, 'sandboxes', 'othertask');

    const probe = (label: string, command: string) => `if ${command} >/dev/null 2>&1; then echo "${label}: REACHED"; else echo "${label}: denied"; fi`;
    const program = [
      'echo "uid $(id -u)"',
      probe('api token', `cat ${data}/api-token`),
      probe('viewer secret', `cat ${data}/viewer-secret`),
      probe('other output', `cat ${otherDir}/output.log`),
      probe('other home', `cat ${otherDir}/home/session.json`),
      probe('own git token', 'cat ../git-token'),
      probe('own jail', 'cat ../jail'),
      probe('absolute path outside', `cat ${outside.path}/secret.txt`),
      probe('forge write', `touch ${data}/repos/demo/hello.git/config`),
      probe('system write', 'touch /usr/agentq-was-here'),
      probe('shadow', 'grep -q root /etc/shadow'),
      probe('dispatcher environ', `cat /proc/${process.pid}/environ`),
      probe('working tree write', 'touch written-by-agent'),
      probe('home write', 'touch "$HOME/home-file"'),
      probe('tmp write', 'touch /tmp/tmp-file'),
      probe('configured tool', `cat ${outside.path}/tool.sh`),
      'echo "processes $(ls /proc | grep -c "^[0-9]")"',
      'echo "data dir holds: $(ls -A ' + data + ' | tr "\\n" " ")"',
    ].join('\n');
    const handle = await provider.create(jailed('hostile', program));
    const out = await output(handle);
    expect(out).toContain('jail exit 0');
    expect(out).toContain(`uid ${process.getuid?.() === 0 ? 65534 : process.getuid?.()}`);
    for (const label of ['api token', 'viewer secret', 'other output', 'other home', 'own git token', 'own jail', 'absolute path outside', 'forge write', 'system write', 'shadow', 'dispatcher environ']) {
      expect(out, label).toContain(`${label}: denied`);
    }
    for (const label of ['working tree write', 'home write', 'tmp write', 'configured tool']) expect(out, label).toContain(`${label}: REACHED`);
    // its own processes only: bash, the probe's ls and grep, and the namespace's init
    expect(Number(/processes (\d+)/.exec(out)?.[1])).toBeLessThan(8);
    expect(/data dir holds: (.*)/.exec(out)?.[1]?.trim()).toBe('sandboxes');
    // what it wrote is where the run script finds it; the machine is unchanged
    const own = join(data, 'sandboxes', 'hostile');
    expect(readdirSync(join(own, 'repo'))).toEqual(['written-by-agent']);
    expect(readdirSync(join(own, 'home'))).toEqual(['home-file']);
    expect(readdirSync(join(own, 'tmp'))).toContain('tmp-file');
    expect(await readFile(join(data, 'api-token'), 'utf8')).toBe('aq_theApiTokenOfThePlatform\n');
  });

  it('ends every process of the task at terminate, setsid or not', async () => {
    const mark = `3171.${Date.now() % 100_000}`;
    const handle = await provider.create(jailed('escapee', `setsid bash -c 'exec sleep ${mark}' & setsid nohup sleep ${mark} >/dev/null 2>&1 & disown; sleep ${mark}`));
    await waitFor(() => processesRunning(`sleep ${mark}`).length === 3, { timeoutMs: 10_000, what: 'the three sleeps' });
    await handle.terminate();
    // terminate resolves once the group is gone; the namespace's other processes die with it
    await waitFor(() => processesRunning(`sleep ${mark}`).length === 0, { timeoutMs: 3000, what: 'no sleep left' });
    expect(processesRunning(`sleep ${mark}`)).toEqual([]);
  });

  it('refuses to run anywhere but in a working directory of its sandbox', async () => {
    const handle = await provider.create({
      taskId: 'wrongplace',
      command: ['bash', '-c', '"$AGENTQ_JAIL" true; echo "from the sandbox dir: $?"; mkdir .agentq-git && cd .agentq-git && "$AGENTQ_JAIL" true; echo "from the private git dir: $?"; cd / && "$AGENTQ_JAIL" true; echo "from /: $?"'],
      env: {},
      secrets: {},
      tags: {},
    });
    const out = await output(handle);
    expect(out).toContain('from the sandbox dir: 126');
    expect(out).toContain('from the private git dir: 126');
    expect(out).toContain('from /: 126');
    expect(out).toContain('is not a working directory of this sandbox');
  });

  it('is an error at start when asked for and bubblewrap is missing; unasked, agents run unisolated and the reason says why', async () => {
    const missing = join(tmp.path, 'no-such-bwrap');
    await expect(LocalSandboxProvider.resolveIsolation('bwrap', { dataDir: tmp.path, bwrap: missing })).rejects.toMatchObject({
      code: 'DISPATCH_ISOLATION_UNAVAILABLE',
      message: expect.stringContaining('apt-get install bubblewrap'),
    });
    expect(() => new LocalSandboxProvider({ dataDir: tmp.path, isolation: 'bwrap', bwrap: missing })).toThrow(/bwrap is not installed/);
    const choice = await LocalSandboxProvider.resolveIsolation(undefined, { dataDir: tmp.path, bwrap: missing });
    expect(choice).toEqual({ isolation: 'none', reason: expect.stringContaining('bwrap is not installed') });
    expect(await LocalSandboxProvider.resolveIsolation('none', { dataDir: tmp.path })).toEqual({ isolation: 'none', reason: 'AGENTQ_LOCAL_ISOLATION=none' });
    // a bwrap that cannot make its namespaces here is not "available" either
    const broken = join(tmp.path, 'broken-bwrap');
    await writeFile(broken, '#!/bin/sh\necho "bwrap: No permissions to create new namespace" >&2\nexit 1\n', { mode: 0o755 });
    expect(await LocalSandboxProvider.resolveIsolation(undefined, { dataDir: tmp.path, bwrap: broken })).toEqual({
      isolation: 'none',
      reason: 'bwrap does not work here: bwrap: No permissions to create new namespace',
    });
    // the check leaves nothing behind
    expect(readdirSync(join(tmp.path, 'sandboxes'))).toEqual([]);
  });
});
