import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { git, loadConfig, type AgentEventInput, type Config } from '@agentq/shared';
import { makeTempDir } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLAUDE_CODE_ENV, claudeCodeHarness } from '../src/harnesses/claude-code.js';
import type { HarnessContext } from '../src/harnesses/harness.js';
import { FakeAnthropic, text, toolUse, workingDirectory } from '@agentq/shared/testing';

const CLAUDE_BIN = resolve(import.meta.dirname, '../../../node_modules/.bin/claude');
const API_KEY = 'sk-ant-test-7c1e0d9f2b4a4e55a1';

function configFor(dataDir: string, extra: Record<string, string> = {}): Config {
  return loadConfig({ AGENTQ_DATA_DIR: dataDir, AGENTQ_CLAUDE_BIN: CLAUDE_BIN, ...extra });
}

function context(config: Config, prompt: string, extra: Partial<HarnessContext> = {}): HarnessContext {
  return { taskId: 'task-1', prompt, model: undefined, maxTurns: 5, config, ...extra };
}

interface CliRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  lines: string[];
  events: AgentEventInput[];
  ms: number;
}

/** Runs the command the harness builds, as a sandbox would: its argv and env plus the secrets. */
async function runCli(ctx: HarnessContext, opts: { cwd: string; home: string; baseUrl: string }): Promise<CliRun> {
  const { argv, env } = claudeCodeHarness.command(ctx);
  const [bin, ...args] = argv;
  if (!bin) throw new Error('empty argv');
  const started = Date.now();
  const child = spawn(bin, args, {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: opts.home, ...env, ANTHROPIC_BASE_URL: opts.baseUrl, ANTHROPIC_API_KEY: API_KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
  const exitCode = await new Promise<number | null>((resolvePromise, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolvePromise(code));
  }).finally(() => clearTimeout(timer));
  const parser = claudeCodeHarness.createParser();
  const lines = stdout.split('\n').filter((l) => l.trim().length > 0);
  return { exitCode, stdout, stderr, lines, events: lines.flatMap((l) => parser.parseLine(l)), ms: Date.now() - started };
}

function byKind<K extends AgentEventInput['kind']>(events: AgentEventInput[], kind: K): Extract<AgentEventInput, { kind: K }>[] {
  return events.filter((e): e is Extract<AgentEventInput, { kind: K }> => e.kind === kind);
}

describe('claudeCodeHarness.command', () => {
  const config = configFor('/tmp/agentq-unused');

  it('builds print-mode stream-json argv with the prompt after --', () => {
    const { argv, env } = claudeCodeHarness.command(context(config, 'add a README', { maxTurns: 7 }));
    expect(argv).toEqual([
      CLAUDE_BIN,
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--max-turns',
      '7',
      '--permission-mode',
      'bypassPermissions',
      '--',
      'add a README',
    ]);
    expect(env).toEqual(CLAUDE_CODE_ENV);
    expect(env).toMatchObject({ IS_SANDBOX: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_AUTOUPDATER: '1' });
  });

  it('passes the model (task first, then config), the resumed session and the permission mode', () => {
    const configured = configFor('/tmp/agentq-unused', { AGENTQ_CLAUDE_MODEL: 'claude-config-model', AGENTQ_CLAUDE_PERMISSION_MODE: 'acceptEdits' });
    const fromConfig = claudeCodeHarness.command(context(configured, 'p')).argv;
    expect(fromConfig).toContain('--model=claude-config-model');
    expect(fromConfig.slice(fromConfig.indexOf('--permission-mode'), fromConfig.indexOf('--permission-mode') + 2)).toEqual([
      '--permission-mode',
      'acceptEdits',
    ]);
    const fromTask = claudeCodeHarness.command(context(configured, 'p', { model: 'claude-task-model', resumeSessionId: 'abc-123' })).argv;
    expect(fromTask).toContain('--model=claude-task-model');
    expect(fromTask).not.toContain('--model=claude-config-model');
    expect(fromTask).toContain('--resume=abc-123');
    expect(fromTask.slice(-2)).toEqual(['--', 'p']);
    expect(claudeCodeHarness.command(context(config, 'p')).argv.some((a) => a.startsWith('--model') || a.startsWith('--resume') || a.startsWith('--max-budget-usd'))).toBe(false);
    // the task's spending limit, through the CLI's own flag
    const limited = claudeCodeHarness.command(context(configured, 'p', { maxCostUsd: 1.5 })).argv;
    expect(limited).toContain('--max-budget-usd=1.5');
    expect(limited.slice(-2)).toEqual(['--', 'p']);
  });

  it('never puts secrets into the command', () => {
    const withSecrets = loadConfig({ AGENTQ_DATA_DIR: '/tmp/x', AGENTQ_CLAUDE_BIN: CLAUDE_BIN, ANTHROPIC_API_KEY: API_KEY });
    const { argv, env } = claudeCodeHarness.command(context(withSecrets, 'p'));
    expect(JSON.stringify({ argv, env })).not.toContain(API_KEY);
  });
});

describe('claude-code harness with the real Claude Code CLI', () => {
  let fake: FakeAnthropic;
  let tmp: { path: string; remove: () => Promise<void> };
  let repo: string;
  let home: string;
  let config: Config;

  beforeAll(async () => {
    expect(existsSync(CLAUDE_BIN), `Claude Code CLI at ${CLAUDE_BIN}`).toBe(true);
    fake = await FakeAnthropic.start();
  });
  afterAll(async () => {
    await fake.close();
  });
  beforeEach(async () => {
    tmp = await makeTempDir('agentq-claude-');
    repo = join(tmp.path, 'repo');
    home = join(tmp.path, 'home');
    await mkdir(repo);
    await mkdir(home);
    await git(['init', '-q', '-b', 'main'], { cwd: repo });
    await git(['-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-q', '--allow-empty', '-m', 'init'], { cwd: repo });
    config = configFor(join(tmp.path, 'data'));
    fake.requests.length = 0;
    fake.failWith(undefined);
  });
  afterEach(async () => {
    await tmp.remove();
  });

  it('runs a Write tool call and reports it as normalized events', async () => {
    const file = join(repo, 'NOTES.md');
    fake.script([
      { content: [text("I'll write the notes."), toolUse('Write', { file_path: file, content: 'notes from the fake model\n' })] },
      { content: [text('Created NOTES.md.')] },
    ]);
    const prompt = 'write NOTES.md please';
    const run = await runCli(context(config, prompt), { cwd: repo, home, baseUrl: fake.url });

    expect(run.exitCode, run.stderr).toBe(0);
    expect(await readFile(file, 'utf8')).toBe('notes from the fake model\n');
    expect(run.events.some((e) => e.kind === 'log')).toBe(false);

    const [init] = byKind(run.events, 'agent.init');
    expect(init).toMatchObject({ kind: 'agent.init', cwd: repo });
    expect(init?.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(init?.tools).toContain('Write');
    const calls = byKind(run.events, 'agent.tool_call');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ name: 'Write', input: { file_path: file, content: 'notes from the fake model\n' } });
    const results = byKind(run.events, 'agent.tool_result');
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ id: calls[0]?.id, ok: true });
    expect(byKind(run.events, 'agent.message').map((m) => m.text)).toEqual(["I'll write the notes.", 'Created NOTES.md.']);
    const [result] = byKind(run.events, 'agent.result');
    expect(result).toMatchObject({ success: true, turns: 2, summary: 'Created NOTES.md.', sessionId: init?.sessionId });
    expect(result?.costUsd).toBeGreaterThan(0);
    expect(run.events.at(-1)?.kind).toBe('agent.result');

    const conversation = fake.conversationRequests();
    expect(conversation).toHaveLength(2);
    expect(workingDirectory(conversation[0]?.body)).toBe(repo);
    expect(fake.userTexts()).toContain(prompt);
    expect(conversation.every((r) => r.credential === API_KEY)).toBe(true);
    expect(run.stdout).not.toContain(API_KEY);
    expect(run.stderr).not.toContain(API_KEY);
    // nothing but the Messages API: no update checks, telemetry or connectivity probes
    expect(fake.requests.filter((r) => !r.path.startsWith('/v1/messages'))).toEqual([]);
  });

  it('keeps a prompt that starts with a dash a prompt, and sends the model asked for', async () => {
    fake.script([{ content: [text('Nothing to do.')] }]);
    const prompt = '--help is not an option here';
    const run = await runCli(context(config, prompt, { model: 'claude-fake-model' }), { cwd: repo, home, baseUrl: fake.url });

    expect(run.exitCode, run.stderr).toBe(0);
    expect(fake.userTexts()).toContain(prompt);
    expect(fake.conversationRequests().map((r) => (r.body as { model?: unknown }).model)).toEqual(['claude-fake-model']);
    expect(byKind(run.events, 'agent.result')[0]).toMatchObject({ success: true, turns: 1, summary: 'Nothing to do.' });
  });

  it('stops at the turn limit it was given', async () => {
    fake.script([
      ({ cwd }) => ({ content: [toolUse('Write', { file_path: join(cwd ?? '/nonexistent', 'ONE.md'), content: 'one\n' })] }),
      { content: [text('Never reached.')] },
    ]);
    const run = await runCli(context(config, 'write ONE.md', { maxTurns: 1 }), { cwd: repo, home, baseUrl: fake.url });

    expect(run.exitCode).not.toBe(0);
    expect(await readFile(join(repo, 'ONE.md'), 'utf8')).toBe('one\n');
    expect(fake.conversationRequests()).toHaveLength(1);
    const [result] = byKind(run.events, 'agent.result');
    expect(result?.success).toBe(false);
    expect(result?.summary).toMatch(/maximum number of turns \(1\)/);
  });

  it('resumes the session of an earlier run', async () => {
    fake.script([{ content: [text('First answer.')] }]);
    const first = await runCli(context(config, 'first prompt'), { cwd: repo, home, baseUrl: fake.url });
    const sessionId = byKind(first.events, 'agent.init')[0]?.sessionId;
    expect(sessionId).toBeDefined();

    fake.requests.length = 0;
    fake.script([{ content: [text('Second answer.')] }]);
    const second = await runCli(context(config, 'second prompt', { resumeSessionId: sessionId }), { cwd: repo, home, baseUrl: fake.url });

    expect(second.exitCode, second.stderr).toBe(0);
    expect(byKind(second.events, 'agent.init')[0]?.sessionId).toBe(sessionId);
    expect(fake.userTexts()).toEqual(expect.arrayContaining(['first prompt', 'second prompt']));
    expect(byKind(second.events, 'agent.result')[0]).toMatchObject({ success: true, summary: 'Second answer.' });
  });

  it('ends quickly with an unsuccessful result carrying the API error', async () => {
    fake.failWith({ status: 403, type: 'permission_error', message: 'this key may not use the fake model' });
    const run = await runCli(context(config, 'anything'), { cwd: repo, home, baseUrl: fake.url });

    expect(run.exitCode).not.toBe(0);
    expect(run.ms).toBeLessThan(20_000);
    const [result] = byKind(run.events, 'agent.result');
    expect(result?.success).toBe(false);
    expect(result?.summary).toContain('this key may not use the fake model');
    expect(run.stdout).not.toContain(API_KEY);
  });
});
