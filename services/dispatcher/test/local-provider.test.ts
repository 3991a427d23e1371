import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { makeTempDir, waitFor } from '@agentq/shared/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalSandboxProvider } from '../src/providers/local/local-provider.js';
import { isGroupAlive } from '../src/providers/local/process-group.js';
import type { OutputLine, SandboxHandle, SandboxSpec } from '../src/providers/sandbox-provider.js';
import { sandboxPgid, waitGroupGone } from './support/process.js';

function spec(taskId: string, script: string, extra: Partial<SandboxSpec> = {}): SandboxSpec {
  return { taskId, command: ['bash', '-c', script], env: {}, secrets: {}, tags: { agentq_task: taskId }, ...extra };
}

async function collect(handle: SandboxHandle, afterLine = 0): Promise<OutputLine[]> {
  const out: OutputLine[] = [];
  for await (const chunk of handle.output(afterLine)) out.push(...chunk);
  return out;
}

function parseEnv(lines: OutputLine[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const { text } of lines) {
    const at = text.indexOf('=');
    if (at > 0) env.set(text.slice(0, at), text.slice(at + 1));
  }
  return env;
}

describe('local sandbox provider', () => {
  let tmp: { path: string; remove: () => Promise<void> };
  let provider: LocalSandboxProvider;

  beforeEach(async () => {
    tmp = await makeTempDir('agentq-local-');
    provider = new LocalSandboxProvider({ dataDir: tmp.path, graceMs: 300, pollMs: 25 });
  });
  afterEach(async () => {
    await tmp.remove();
  });

  it('notices the end of its program when the exit code is written, not at the next poll', async () => {
    const slow = new LocalSandboxProvider({ dataDir: tmp.path, graceMs: 300, pollMs: 10_000 });
    const handle = await slow.create(spec('quicktask', 'sleep 0.3; echo done'));
    const t0 = Date.now();
    expect(await handle.wait()).toEqual({ state: 'exited', exitCode: 0 });
    const waited = Date.now() - t0;
    expect(waited).toBeLessThan(5000);
    const t1 = Date.now();
    expect((await collect(handle)).map((l) => l.text)).toEqual(['done']);
    expect(Date.now() - t1).toBeLessThan(5000);

    // a program still running: its output ends when it does, however long the poll
    const second = await slow.create(spec('quicktask2', 'echo first; sleep 0.3; echo second'));
    const t2 = Date.now();
    expect((await collect(second)).map((l) => l.text)).toEqual(['first', 'second']);
    expect(Date.now() - t2).toBeLessThan(5000);
  });

  it('release ends what the program left running in its group when it exited', async () => {
    const handle = await provider.create(spec('straytask', 'sleep 30 & echo started'));
    await collect(handle);
    expect(await handle.status()).toEqual({ state: 'exited', exitCode: 0 });
    const pgid = await sandboxPgid(tmp.path, 'straytask');
    expect(isGroupAlive(pgid)).toBe(true);
    await handle.release();
    expect(isGroupAlive(pgid)).toBe(false);
  });

  it('runs with a scrubbed environment: PATH, HOME, TMPDIR, LANG, the secrets and the run variables only', async () => {
    process.env.AGENTQ_TEST_DISPATCHER_ONLY = 'must-not-leak-1234';
    try {
      const handle = await provider.create(
        spec('envtask', 'env', { env: { AGENTQ_RUN_VAR: 'run-value' }, secrets: { AGENTQ_TEST_SECRET: 's3cr3t-local-value' } }),
      );
      const env = parseEnv(await collect(handle));
      expect(await handle.status()).toEqual({ state: 'exited', exitCode: 0 });

      const dir = join(tmp.path, 'sandboxes', 'envtask');
      expect(env.get('AGENTQ_TEST_SECRET')).toBe('s3cr3t-local-value');
      expect(env.get('AGENTQ_RUN_VAR')).toBe('run-value');
      expect(env.get('HOME')).toBe(join(dir, 'home'));
      expect(env.get('TMPDIR')).toBe(join(dir, 'tmp'));
      expect(env.get('PATH')?.split(':')).toContain(dirname(process.execPath));
      expect(env.has('AGENTQ_TEST_DISPATCHER_ONLY')).toBe(false);
      expect(env.has('REDIS_URL')).toBe(false);
      // what bash adds on its own, and nothing else
      const allowed = new Set(['PATH', 'HOME', 'TMPDIR', 'LANG', 'AGENTQ_TEST_SECRET', 'AGENTQ_RUN_VAR', 'PWD', 'SHLVL', '_', 'OLDPWD']);
      expect([...env.keys()].filter((name) => !allowed.has(name))).toEqual([]);
    } finally {
      delete process.env.AGENTQ_TEST_DISPATCHER_ONLY;
    }
  });

  it('records the exit code and keeps the output in output.log', async () => {
    const handle = await provider.create(spec('exitcode', 'echo one; echo two >&2; printf "three"; exit 7'));
    const lines = await collect(handle);
    expect(lines).toEqual([
      { line: 1, text: 'one' },
      { line: 2, text: 'two' },
      { line: 3, text: 'three' },
    ]);
    expect(await handle.wait()).toEqual({ state: 'exited', exitCode: 7 });
    const dir = join(tmp.path, 'sandboxes', 'exitcode');
    expect(await readFile(join(dir, 'exit-code'), 'utf8')).toBe('7\n');
    expect(await readFile(join(dir, 'output.log'), 'utf8')).toBe('one\ntwo\nthree');
    expect(existsSync(join(dir, 'pid'))).toBe(false);
    await expect(provider.create(spec('exitcode', 'true'))).rejects.toMatchObject({ code: 'DISPATCH_SANDBOX_EXISTS' });
  });

  it('terminates the whole process group, escalating to SIGKILL', async () => {
    // the children ignore SIGTERM, so only SIGKILL stops them
    const handle = await provider.create(spec('term', 'trap "" TERM; sleep 30 & sleep 30 & echo started; wait'));
    const pgid = await sandboxPgid(tmp.path, 'term');
    await waitFor(async () => (await readFile(join(tmp.path, 'sandboxes', 'term', 'output.log'), 'utf8')).includes('started'));
    expect(await handle.status()).toEqual({ state: 'running' });
    expect(await readFile(join(tmp.path, 'sandboxes', 'term', 'pid'), 'utf8')).toBe(`${pgid}\n`);

    await handle.terminate();
    await handle.terminate(); // twice is fine
    await waitGroupGone(pgid);
    expect(await handle.status()).toEqual({ state: 'lost' });
    expect(existsSync(join(tmp.path, 'sandboxes', 'term', 'pid'))).toBe(false);
  });

  it('keeps running and writing when nobody reads, and a new provider re-attaches from a line', async () => {
    const handle = await provider.create(spec('attach', 'for i in 1 2 3 4 5 6; do echo "line $i"; sleep 0.1; done'));
    const first: OutputLine[] = [];
    for await (const chunk of handle.output(0)) {
      first.push(...chunk);
      if (first.length >= 2) break; // the reader goes away (a dispatcher crash)
    }
    expect(first.slice(0, 2).map((l) => l.text)).toEqual(['line 1', 'line 2']);

    const other = new LocalSandboxProvider({ dataDir: tmp.path, pollMs: 25 });
    const found = await other.list({ agentq_task: 'attach' });
    expect(found.map((s) => s.id)).toEqual(['attach']);
    expect(await other.list({ agentq_task: 'nope' })).toEqual([]);
    const attached = await other.attach('attach');
    expect(attached).toBeDefined();
    const rest = await collect(attached as SandboxHandle, 2);
    expect(rest.map((l) => `${l.line}:${l.text}`)).toEqual(['3:line 3', '4:line 4', '5:line 5', '6:line 6']);
    expect(await attached?.status()).toEqual({ state: 'exited', exitCode: 0 });
    expect(await other.attach('unknown')).toBeUndefined();
  });

  it('reports a sandbox killed from outside as lost, and release keeps only the record of the run', async () => {
    const handle = await provider.create(spec('lost', 'echo hi > file.txt; mkdir -p repo; sleep 30'));
    const pgid = await sandboxPgid(tmp.path, 'lost');
    await waitFor(() => existsSync(join(tmp.path, 'sandboxes', 'lost', 'file.txt')));
    process.kill(-pgid, 'SIGKILL');
    await waitFor(async () => (await handle.status()).state === 'lost');
    await handle.release();
    const dir = join(tmp.path, 'sandboxes', 'lost');
    expect(existsSync(join(dir, 'file.txt'))).toBe(false);
    expect(existsSync(join(dir, 'repo'))).toBe(false);
    expect(existsSync(join(dir, 'tmp'))).toBe(false);
    expect(existsSync(join(dir, 'home'))).toBe(true);
    expect(existsSync(join(dir, 'output.log'))).toBe(true);
  });
});
