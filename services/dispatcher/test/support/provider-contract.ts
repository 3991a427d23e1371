import { randomBytes } from 'node:crypto';
import { waitFor } from '@agentq/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutputLine, SandboxHandle, SandboxProvider, SandboxSpec } from '../../src/providers/sandbox-provider.js';

/** A provider under the contract, or the reason it cannot be tested here. */
export type ContractTarget =
  | {
      /** Called once before the suite. */
      create: () => Promise<SandboxProvider>;
      /** Called once after the suite (remove leftovers, stop fakes). */
      destroy?: () => Promise<void>;
      /** The provider copies home paths from an earlier sandbox (`SandboxSpec.inherit`). */
      inherits: boolean;
      /** Longest a single test may take (remote providers start slower). */
      testTimeoutMs?: number;
    }
  | { skip: string };

async function collect(handle: SandboxHandle, afterLine = 0): Promise<OutputLine[]> {
  const out: OutputLine[] = [];
  for await (const chunk of handle.output(afterLine)) out.push(...chunk);
  return out;
}

/** The first `count` lines of output, once they are there. */
async function firstLines(handle: SandboxHandle, count: number, timeoutMs: number): Promise<string[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const lines: string[] = [];
  try {
    for await (const chunk of handle.output(0, abort.signal)) {
      lines.push(...chunk.map((l) => l.text));
      if (lines.length >= count) return lines.slice(0, count);
    }
    throw new Error(`the sandbox wrote ${lines.length} of ${count} lines`);
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

/** The first line of output, once it is there. */
async function firstLine(handle: SandboxHandle, timeoutMs: number): Promise<string> {
  return (await firstLines(handle, 1, timeoutMs))[0] ?? '';
}

/**
 * The behaviour every sandbox provider must have: what the task runner relies on to run a task,
 * follow it, re-attach to it after a dispatcher crash, stop it, and find orphans. Commands are
 * plain bash, so any image with bash and coreutils passes.
 */
export function describeProviderContract(name: string, target: ContractTarget): void {
  if ('skip' in target) {
    // reported as one skipped test whose name says why the provider cannot be tested here
    it.skip(`sandbox provider contract: ${name}, skipped because ${target.skip}`, () => undefined);
    return;
  }
  const timeout = target.testTimeoutMs ?? 20_000;
  describe(`sandbox provider contract: ${name}`, { timeout }, () => {
    const run = randomBytes(4).toString('hex');
    let provider: SandboxProvider;
    const created: string[] = [];
    let n = 0;

    const spec = (script: string, extra: Partial<SandboxSpec> = {}): SandboxSpec => {
      const taskId = `ct-${run}-${++n}`;
      return { taskId, command: ['bash', '-c', script], env: {}, secrets: {}, tags: { agentq_task: taskId, agentq_contract: run }, ...extra };
    };
    const create = async (s: SandboxSpec): Promise<SandboxHandle> => {
      const handle = await provider.create(s);
      created.push(handle.id);
      return handle;
    };

    beforeAll(async () => {
      provider = await target.create();
    }, timeout);
    afterAll(async () => {
      for (const id of created) await provider?.remove(id).catch(() => undefined);
      await target.destroy?.();
    }, timeout * 2);

    it('runs the command, numbers its output lines from 1 (stderr too, in order) and records the exit code', async () => {
      const handle = await create(spec('echo one; echo two >&2; echo three; printf four; exit 7'));
      expect(handle.provider).toBe(provider.name);
      expect(await collect(handle)).toEqual([
        { line: 1, text: 'one' },
        { line: 2, text: 'two' },
        { line: 3, text: 'three' },
        { line: 4, text: 'four' },
      ]);
      expect(await handle.wait()).toEqual({ state: 'exited', exitCode: 7 });
      expect(await handle.status()).toEqual({ state: 'exited', exitCode: 7 });
    });

    it('gives the command its run variables and secrets', async () => {
      const handle = await create(
        spec('echo "var=$AGENTQ_CONTRACT_VAR"; echo "secret=$AGENTQ_CONTRACT_SECRET"', {
          env: { AGENTQ_CONTRACT_VAR: 'plain value' },
          secrets: { AGENTQ_CONTRACT_SECRET: 'contract-secret-value' },
        }),
      );
      expect((await collect(handle)).map((l) => l.text)).toEqual(['var=plain value', 'secret=contract-secret-value']);
      expect(await handle.wait()).toEqual({ state: 'exited', exitCode: 0 });
    });

    it('re-attaches by id to a running sandbox and reads on from a given line', async () => {
      const handle = await create(spec('for i in 1 2 3 4 5; do echo "line $i"; sleep 0.3; done'));
      expect(await firstLine(handle, timeout / 2)).toBe('line 1');
      const again = await provider.attach(handle.id);
      expect(again?.id).toBe(handle.id);
      expect(await again?.status()).toEqual({ state: 'running' });
      const rest = await collect(again as SandboxHandle, 2);
      expect(rest).toEqual([
        { line: 3, text: 'line 3' },
        { line: 4, text: 'line 4' },
        { line: 5, text: 'line 5' },
      ]);
      expect(await again?.wait()).toEqual({ state: 'exited', exitCode: 0 });
      // the output of an ended sandbox can still be read until it is released
      expect((await collect(handle)).map((l) => l.line)).toEqual([1, 2, 3, 4, 5]);
    });

    it('does not know a sandbox it never made', async () => {
      expect(await provider.attach(`ct-${run}-unknown`)).toBeUndefined();
    });

    it('refuses a second sandbox for the same task with DISPATCH_SANDBOX_EXISTS', async () => {
      const first = spec('sleep 5');
      await create(first);
      await expect(provider.create({ ...first, command: ['bash', '-c', 'echo second'] })).rejects.toMatchObject({ code: 'DISPATCH_SANDBOX_EXISTS' });
    });

    it('puts private files in the starting directory (mode 600), and replaces them while the command runs', async () => {
      const handle = await create(
        spec('stat -c %a token; cat token; echo; while [ "$(cat token)" = first ]; do sleep 0.1; done; cat token; echo', {
          files: { token: 'first' },
        }),
      );
      // the command has read the first content before it is replaced
      expect(await firstLines(handle, 2, timeout / 2)).toEqual(['600', 'first']);
      expect(await handle.readFile?.('token')).toBe('first');
      await handle.writeFile?.('token', 'second');
      expect(await handle.readFile?.('token')).toBe('second');
      expect(await handle.readFile?.('absent')).toBeUndefined();
      expect((await collect(handle)).map((l) => l.text)).toEqual(['600', 'first', 'second']);
      expect(await handle.wait()).toEqual({ state: 'exited', exitCode: 0 });
    });

    it('refuses an unusable private file name, creating nothing', async () => {
      const bad = spec('echo never', { files: { '../escape': 'x' } });
      await expect(provider.create(bad)).rejects.toMatchObject({ code: 'DISPATCH_BAD_SANDBOX_SPEC' });
      expect(await provider.list({ agentq_task: bad.taskId })).toEqual([]);
    });

    it('terminates a running command (twice is fine); the sandbox then no longer runs', async () => {
      const handle = await create(spec('echo started; sleep 120'));
      expect(await firstLine(handle, timeout / 2)).toBe('started');
      await handle.terminate();
      await handle.terminate();
      const status = await handle.status();
      expect(status.state).not.toBe('running');
      expect((await handle.wait()).state).not.toBe('running');
      // reading the output of a stopped sandbox ends
      expect((await collect(handle))[0]?.text).toBe('started');
    });

    it('lists sandboxes by tag, with their status', async () => {
      const tagged = spec('sleep 30');
      const handle = await create(tagged);
      await waitFor(async () => (await provider.list({ agentq_contract: run })).some((s) => s.id === handle.id), { timeoutMs: timeout / 2 });
      const [found] = (await provider.list({ agentq_task: tagged.taskId })).filter((s) => s.id === handle.id);
      expect(found?.tags).toMatchObject({ agentq_task: tagged.taskId, agentq_contract: run });
      expect(found?.status).toEqual({ state: 'running' });
      expect(await provider.list({ agentq_contract: `${run}-other` })).toEqual([]);
      await handle.terminate();
    });

    it('release ends what still runs; remove deletes what is left', async () => {
      const handle = await create(spec('echo kept; sleep 120'));
      expect(await firstLine(handle, timeout / 2)).toBe('kept');
      await handle.release();
      expect((await handle.status()).state).not.toBe('running');
      await provider.remove(handle.id);
      await provider.remove(handle.id);
      const after = await provider.attach(handle.id);
      if (after) expect((await after.status()).state).not.toBe('running');
      expect((await provider.list({ agentq_task: handle.id })).filter((s) => s.status.state === 'running')).toEqual([]);
    });

    it(target.inherits ? 'seeds a new sandbox with home paths of an ended one' : 'refuses to inherit home paths (DISPATCH_INHERIT_UNAVAILABLE)', async () => {
      const first = await create(spec('mkdir -p "$HOME/.agent/sessions" && echo remembered > "$HOME/.agent/sessions/s1" && echo done'));
      expect(await first.wait()).toEqual({ state: 'exited', exitCode: 0 });
      await first.release();
      const second = spec('cat "$HOME/.agent/sessions/s1"', { inherit: { sandboxId: first.id, homePaths: ['.agent', '.missing'] } });
      if (!target.inherits) {
        await expect(provider.create(second)).rejects.toMatchObject({ code: 'DISPATCH_INHERIT_UNAVAILABLE' });
        return;
      }
      const handle = await create(second);
      expect((await collect(handle)).map((l) => l.text)).toEqual(['remembered']);
      const none = spec('true', { inherit: { sandboxId: first.id, homePaths: ['.missing'] } });
      await expect(provider.create(none)).rejects.toMatchObject({ code: 'DISPATCH_INHERIT_UNAVAILABLE' });
    });
  });
}
