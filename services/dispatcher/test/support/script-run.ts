import type { LocalForge } from '@agentq/shared';
import { StreamJsonParser } from '../../src/harnesses/stream-json-parser.js';
import type { LocalSandboxProvider } from '../../src/providers/local/local-provider.js';
import type { SandboxStatus } from '../../src/providers/sandbox-provider.js';
import { OutputReader, type RunFacts } from '../../src/run/output-reader.js';
import { runCommand, runEnvironment } from '../../src/run/run-script.js';
import { RuntimeSecrets } from '../../src/runtime-secrets.js';

export const SCRIPT_BRANCH = 'agentq/abcd1234-test-run';

export interface ScriptRun {
  facts: RunFacts;
  status: SandboxStatus;
  /** Every output line, as the sandbox gave it. */
  texts: string[];
  /** The sandbox's directory (the run script's start directory). */
  dir: string;
}

export interface ScriptRunOptions {
  baseRef?: string;
  repoUrl?: string;
  prompt?: string;
  setup?: string[];
  /** Variables added to the run script's. */
  env?: Record<string, string>;
  /** Private files of the sandbox. */
  files?: Record<string, string>;
}

/** Runs the run script in a `local` sandbox with `bash -c <harness>` as the harness, and reads its output. */
export async function runScript(
  provider: LocalSandboxProvider,
  forge: LocalForge,
  repo: string,
  taskId: string,
  harness: string,
  options: ScriptRunOptions = {},
): Promise<ScriptRun> {
  const handle = await provider.create({
    taskId,
    command: runCommand(['bash', '-c', harness]),
    env: {
      ...runEnvironment({
        taskId,
        repoUrl: options.repoUrl ?? forge.url(repo),
        baseRef: options.baseRef,
        branch: SCRIPT_BRANCH,
        prompt: options.prompt ?? 'Change the widgets\nwith more detail',
        gitAuthorName: 'Agent Q',
        gitAuthorEmail: 'agentq@example.com',
        setup: options.setup,
      }),
      ...options.env,
    },
    secrets: {},
    files: options.files,
    tags: {},
  });
  const reader = new OutputReader(new StreamJsonParser(), new RuntimeSecrets([]), 'test');
  const texts: string[] = [];
  for await (const chunk of handle.output(0)) {
    for (const line of chunk) {
      texts.push(line.text);
      reader.read(line);
    }
  }
  return { facts: reader.facts, status: await handle.status(), texts, dir: provider.dir(taskId) };
}
