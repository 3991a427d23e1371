import { LocalForge } from '@agentq/shared';
import { makeTempDir } from '@agentq/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamJsonParser } from '../src/harnesses/stream-json-parser.js';
import { LocalSandboxProvider } from '../src/providers/local/local-provider.js';
import type { SandboxStatus } from '../src/providers/sandbox-provider.js';
import { parseMarker } from '../src/run/markers.js';
import { decideOutcome } from '../src/run/outcome.js';
import { OutputReader, type RunFacts } from '../src/run/output-reader.js';
import { RuntimeSecrets } from '../src/runtime-secrets.js';
import { RUN_EXIT, runCommand, runEnvironment } from '../src/run/run-script.js';

const REPO = 'acme/setup-step';

describe('setup markers', () => {
  it('reads the setup step and a command\'s exit, and rejects malformed ones', () => {
    expect(parseMarker('\x1e{"agentq":{"step":"setup"}}')).toEqual({ type: 'step', step: 'setup' });
    expect(parseMarker('\x1e{"agentq":{"setup":"exit","index":1,"count":3,"code":2}}')).toEqual({ type: 'setup_exit', index: 1, count: 3, code: 2 });
    expect(parseMarker('\x1e{"agentq":{"setup":"exit","index":3,"count":3,"code":2}}')).toBeUndefined();
    expect(parseMarker('\x1e{"agentq":{"setup":"exit","index":-1,"count":3,"code":2}}')).toBeUndefined();
    expect(parseMarker('\x1e{"agentq":{"setup":"exit","index":0,"count":1}}')).toBeUndefined();
    expect(parseMarker('\x1e{"agentq":{"step":"install"}}')).toBeUndefined();
  });
});

describe('the run script\'s setup step', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>>;
  let forge: LocalForge;
  let provider: LocalSandboxProvider;
  let counter = 0;

  beforeAll(async () => {
    tmp = await makeTempDir('agentq-setup-');
    forge = new LocalForge(tmp.path);
    await forge.seed(REPO, { 'README.md': '# setup\n' });
    provider = new LocalSandboxProvider({ dataDir: tmp.path, pollMs: 25 });
  });
  afterAll(async () => {
    await tmp?.remove();
  });

  async function run(setup: string[], extraEnv: Record<string, string> = {}): Promise<{ facts: RunFacts; status: SandboxStatus; texts: string[]; phases: string[] }> {
    counter += 1;
    const taskId = `setup${counter}`;
    const handle = await provider.create({
      taskId,
      command: runCommand(['bash', '-c', 'echo agent ran; ls']),
      env: {
        ...runEnvironment({
          taskId,
          repoUrl: forge.url(REPO),
          baseRef: undefined,
          branch: `agentq/${taskId}`,
          prompt: 'setup test',
          gitAuthorName: 'Agent Q',
          gitAuthorEmail: 'agentq@example.com',
          setup,
        }),
        ...extraEnv,
      },
      secrets: {},
      tags: {},
    });
    const reader = new OutputReader(new StreamJsonParser(), new RuntimeSecrets([]), 'test');
    const texts: string[] = [];
    const phases: string[] = [];
    for await (const chunk of handle.output(0)) {
      for (const line of chunk) {
        texts.push(line.text);
        reader.read(line);
        phases.push(`${reader.facts.lastStep ?? '-'}:${reader.phase()}`);
      }
    }
    return { facts: reader.facts, status: await handle.status(), texts, phases };
  }

  it('runs each command in order in the working tree, then the agent', async () => {
    const { facts, status, texts, phases } = await run(['pwd > where.txt; echo first', "printf '%s\\n' \"$0\" second"]);
    expect(status).toEqual({ state: 'exited', exitCode: 0 });
    expect(facts.setupFailure).toBeUndefined();
    const order = texts.filter((t) => /^(\$ |first|bash|second|agent ran|where\.txt)/.test(t) || t.includes('"setup"'));
    expect(order).toEqual([
      '\x1e{"agentq":{"step":"setup"}}',
      '$ pwd > where.txt; echo first',
      'first',
      '\x1e{"agentq":{"setup":"exit","index":0,"count":2,"code":0}}',
      `$ printf '%s\\n' "$0" second`,
      'bash',
      'second',
      '\x1e{"agentq":{"setup":"exit","index":1,"count":2,"code":0}}',
      'agent ran',
      'where.txt',
    ]);
    // the task is still starting while the setup runs
    expect(phases.filter((p) => p.startsWith('setup:'))).not.toHaveLength(0);
    expect(phases.filter((p) => p.startsWith('setup:')).every((p) => p === 'setup:starting')).toBe(true);
  });

  it('stops at a failing command with its own exit code', async () => {
    const { facts, status, texts } = await run(['true', 'echo broken >&2; exit 7', 'echo never']);
    expect(status).toEqual({ state: 'exited', exitCode: RUN_EXIT.setupFailed });
    expect(facts.setupFailure).toEqual({ index: 1, count: 3, code: 7 });
    expect(facts.agentExitCode).toBeUndefined();
    expect(texts).toContain('broken');
    expect(texts).not.toContain('never');
    expect(texts).not.toContain('agent ran');
    const outcome = decideOutcome({ facts, status, repo: REPO, baseRef: undefined, timeoutSec: 60, forgeCommit: undefined });
    expect(outcome.state).toBe('failed');
    expect(outcome.update.error?.code).toBe('DISPATCH_SETUP_FAILED');
    expect(outcome.update.error?.message).toMatch(/^setup command 2 of 3 failed with exit code 7: [^]*broken$/);
  });

  it('refuses a missing command or a count that is not a number, before cloning', async () => {
    const missing = await run(['echo one', 'echo two'], { AGENTQ_SETUP_1: '' });
    expect(missing.status).toEqual({ state: 'exited', exitCode: RUN_EXIT.badArguments });
    expect(missing.texts).toContain('agentq-run: AGENTQ_SETUP_1 is missing');
    expect(missing.facts.lastStep).toBeUndefined();
    const notNumber = await run([], { AGENTQ_SETUP_COUNT: '2; rm -rf /' });
    expect(notNumber.status).toEqual({ state: 'exited', exitCode: RUN_EXIT.badArguments });
    expect(notNumber.texts).toContain('agentq-run: AGENTQ_SETUP_COUNT is not a number');
  });

  it('has no setup step without commands', async () => {
    const { texts, status } = await run([]);
    expect(status).toEqual({ state: 'exited', exitCode: 0 });
    expect(texts.some((t) => t.includes('"setup"'))).toBe(false);
  });
});
