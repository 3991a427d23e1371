import { loadConfig } from '@agentq/shared';
import { describe, expect, it } from 'vitest';
import { codexCommand } from '../src/harnesses/codex.js';
import { CodexParser } from '../src/harnesses/codex-parser.js';
import type { HarnessContext } from '../src/harnesses/harness.js';
import { harnessFor } from '../src/harnesses/registry.js';

const config = loadConfig({ AGENTQ_DATA_DIR: '/tmp/agentq-codex-test' });
const ctx = (over: Partial<HarnessContext> = {}): HarnessContext => ({ taskId: 't1', prompt: 'add a note', model: undefined, maxTurns: 10, config, ...over });

describe('codex harness', () => {
  it('runs codex exec with JSON output, no git check and no inner sandbox, the prompt after --', () => {
    expect(codexCommand(ctx())).toEqual({
      argv: ['codex', 'exec', '--json', '--skip-git-repo-check', '-s', 'danger-full-access', '--', 'add a note'],
      env: {},
      secrets: {},
    });
  });

  it('makes the model gateway its model provider by -c overrides, with the task token in AGENTQ_MODEL_TOKEN', () => {
    const token = `aqg_${'x'.repeat(43)}`;
    const gateway = { url: 'http://agentq.internal:8080', token };
    const command = codexCommand(ctx({ gateway, model: 'gpt-5.1-codex' }));
    expect(command.argv).toEqual([
      'codex', 'exec', '--json', '--skip-git-repo-check', '-s', 'danger-full-access',
      '-c', 'model_provider="agentq"',
      '-c', 'model_providers.agentq={name="agentq", base_url="http://agentq.internal:8080/llm/openai", env_key="AGENTQ_MODEL_TOKEN", wire_api="responses"}',
      '--model=gpt-5.1-codex', '--', 'add a note',
    ]);
    expect(command.secrets).toEqual({ AGENTQ_MODEL_TOKEN: token });
    expect(command.argv.join(' ')).not.toContain(token);
    expect(JSON.stringify(command.env)).not.toContain(token);
    // without a gateway (a test's own config), nothing is made up
    const without = codexCommand(ctx({}));
    expect(without.argv).not.toContain('-c');
    expect(without.secrets).toEqual({});
    expect(without.env).toEqual({});
  });

  it('passes the task model as one argument and keeps a prompt starting with - the prompt', () => {
    expect(codexCommand(ctx({ model: 'gpt-5.1-codex', prompt: '--help me' })).argv).toEqual([
      'codex', 'exec', '--json', '--skip-git-repo-check', '-s', 'danger-full-access', '--model=gpt-5.1-codex', '--', '--help me',
    ]);
  });

  it('resumes a thread with `exec ... resume <id>`, and never passes an id that could read as an option', () => {
    expect(codexCommand(ctx({ resumeSessionId: '01a224eb-04fc-7330-9048-f8e8095a0e08' })).argv).toEqual([
      'codex', 'exec', '--json', '--skip-git-repo-check', '-s', 'danger-full-access', 'resume', '01a224eb-04fc-7330-9048-f8e8095a0e08', '--', 'add a note',
    ]);
    expect(codexCommand(ctx({ resumeSessionId: '--last' })).argv).not.toContain('resume');
  });

  it('is registered under its name, with its parser and session directory', () => {
    const harness = harnessFor('codex');
    expect(harness?.name).toBe('codex');
    expect(harness?.createParser()).toBeInstanceOf(CodexParser);
    expect(harness?.sessionFiles).toEqual(['.codex']);
  });
});
