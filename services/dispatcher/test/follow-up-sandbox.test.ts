import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentqError, LocalForge, git } from '@agentq/shared';
import { makeTempDir } from '@agentq/shared/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StreamJsonParser } from '../src/harnesses/stream-json-parser.js';
import { LocalSandboxProvider } from '../src/providers/local/local-provider.js';
import type { SandboxHandle, SandboxSpec, SandboxStatus } from '../src/providers/sandbox-provider.js';
import { decideOutcome } from '../src/run/outcome.js';
import { OutputReader, type RunFacts } from '../src/run/output-reader.js';
import { RuntimeSecrets } from '../src/runtime-secrets.js';
import { RUN_EXIT, runCommand, runEnvironment } from '../src/run/run-script.js';

const REPO = 'acme/widgets';
const BRANCH = 'agentq/abcd1234-first-run';

async function drain(handle: SandboxHandle): Promise<{ facts: RunFacts; status: SandboxStatus; texts: string[] }> {
  const reader = new OutputReader(new StreamJsonParser(), new RuntimeSecrets([]), 'test');
  const texts: string[] = [];
  for await (const chunk of handle.output(0)) {
    for (const line of chunk) {
      texts.push(line.text);
      reader.read(line);
    }
  }
  return { facts: reader.facts, status: await handle.status(), texts };
}

describe('follow-up sandboxes', () => {
  let tmp: { path: string; remove: () => Promise<void> };
  let forge: LocalForge;
  let provider: LocalSandboxProvider;
  let counter = 0;

  beforeEach(async () => {
    tmp = await makeTempDir('agentq-follow-sandbox-');
    forge = new LocalForge(tmp.path);
    await forge.seed(REPO, { 'README.md': '# widgets\n' });
    provider = new LocalSandboxProvider({ dataDir: tmp.path, pollMs: 25 });
  });
  afterEach(async () => {
    await tmp.remove();
  });

  function spec(script: string, extra: Partial<SandboxSpec> = {}, continueBranch = false): SandboxSpec {
    counter += 1;
    const taskId = `run${counter}`;
    return {
      taskId,
      command: runCommand(['bash', '-c', script]),
      env: runEnvironment({
        taskId,
        repoUrl: forge.url(REPO),
        baseRef: undefined,
        branch: BRANCH,
        continueBranch,
        prompt: `change ${counter}`,
        gitAuthorName: 'Agent Q',
        gitAuthorEmail: 'agentq@example.com',
      }),
      secrets: {},
      tags: {},
      ...extra,
    };
  }

  it('continues an existing branch and pushes a fast-forward onto it', async () => {
    const first = await drain(await provider.create(spec('echo one > one.txt')));
    expect(first.facts.push?.ok).toBe(true);
    const firstCommit = first.facts.commit?.sha;

    const next = await drain(await provider.create(spec('test -f one.txt && echo two > two.txt', {}, true)));
    expect(next.status).toEqual({ state: 'exited', exitCode: 0 });
    expect(next.facts).toMatchObject({ baseCommit: firstCommit, branch: BRANCH, branchContinued: true, push: { ok: true } });
    expect(next.facts.commit?.diffStat).toEqual({ files: 1, insertions: 1, deletions: 0 });
    const bare = forge.path(REPO);
    expect(await forge.branchCommit(REPO, BRANCH)).toBe(next.facts.commit?.sha);
    expect((await git(['rev-parse', `${BRANCH}^`], { cwd: bare })).stdout.trim()).toBe(firstCommit);
  });

  it('refuses to continue a branch that is not there, and does not overwrite one that moved meanwhile', async () => {
    const missing = await drain(await provider.create(spec('echo x > x.txt', {}, true)));
    expect(missing.status).toEqual({ state: 'exited', exitCode: RUN_EXIT.branchNotFound });
    expect(missing.facts.cloneFailure).toBe('branch');
    expect(missing.facts.agentExitCode).toBeUndefined();
    const outcome = decideOutcome({
      facts: missing.facts,
      status: missing.status,
      repo: REPO,
      baseRef: undefined,
      timeoutSec: 60,
      forgeCommit: undefined,
    });
    expect(outcome).toMatchObject({ state: 'failed', update: { error: { code: 'DISPATCH_BRANCH_NOT_FOUND' } } });

    await drain(await provider.create(spec('echo one > one.txt')));
    // someone pushes to the branch while the follow-up runs: its push is not a fast-forward
    const work = join(tmp.path, 'work');
    await git(['clone', '-q', '--branch', BRANCH, forge.url(REPO), work]);
    const racing = await provider.create(
      spec(
        [
          `cd ${JSON.stringify(work)} && echo other > other.txt && git add . && git -c user.name=o -c user.email=o@x commit -qm other && git push -q origin HEAD`,
          'cd - >/dev/null && echo mine > mine.txt',
        ].join('\n'),
        {},
        true,
      ),
    );
    const raced = await drain(racing);
    expect(raced.facts.push?.ok).toBe(false);
    expect(raced.status).toEqual({ state: 'exited', exitCode: RUN_EXIT.pushFailed });
    const { stdout } = await git(['log', '-1', '--format=%s', BRANCH], { cwd: forge.path(REPO) });
    expect(stdout.trim()).toBe('other');
  });

  it('seeds a new sandbox home from an ended one, and refuses when there is nothing to carry', async () => {
    const parent = await provider.create(spec('true'));
    await drain(parent);
    const home = join(tmp.path, 'sandboxes', parent.id, 'home');
    await mkdir(join(home, '.agent', 'sessions'), { recursive: true });
    await writeFile(join(home, '.agent', 'sessions', 's1.jsonl'), '{"turn":1}\n');
    await writeFile(join(home, '.agent.json'), '{}\n');
    await writeFile(join(home, 'unrelated.txt'), 'no\n');
    await parent.release();

    const child = await provider.create({
      taskId: 'child1',
      command: ['bash', '-c', 'cat "$HOME/.agent/sessions/s1.jsonl"; ls -A "$HOME"'],
      env: {},
      secrets: {},
      tags: {},
      inherit: { sandboxId: parent.id, homePaths: ['.agent', '.agent.json', '.missing'] },
    });
    const seen = await drain(child);
    expect(seen.texts).toEqual(['{"turn":1}', '.agent', '.agent.json']);
    expect(await readFile(join(home, '.agent', 'sessions', 's1.jsonl'), 'utf8')).toBe('{"turn":1}\n'); // the parent keeps its own

    const refuse = async (inherit: SandboxSpec['inherit'], taskId: string) => {
      const err = await provider.create({ ...spec('true'), taskId, inherit }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AgentqError);
      expect(existsSync(join(tmp.path, 'sandboxes', taskId))).toBe(false);
      return (err as AgentqError).code;
    };
    expect(await refuse({ sandboxId: 'nosuchsandbox', homePaths: ['.agent'] }, 'child2')).toBe('DISPATCH_INHERIT_UNAVAILABLE');
    expect(await refuse({ sandboxId: parent.id, homePaths: ['.missing'] }, 'child3')).toBe('DISPATCH_INHERIT_UNAVAILABLE');
    expect(await refuse({ sandboxId: parent.id, homePaths: ['../output.log'] }, 'child4')).toBe('DISPATCH_BAD_SANDBOX_SPEC');
  });
});
