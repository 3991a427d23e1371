import { anthropicGateway } from './gateway-env.js';
import type { Harness, HarnessCommand, HarnessContext } from './harness.js';
import { StreamJsonParser } from './stream-json-parser.js';

/**
 * Environment for Claude Code in a sandbox.
 * - `IS_SANDBOX=1`: as root, Claude Code refuses `bypassPermissions` without it.
 * - `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`: the CLI then calls the Messages API only (no update
 *   checks, telemetry, error reports or connectivity probe); the other three name the same switches
 *   one by one.
 * The model is reached through the model gateway (`ANTHROPIC_BASE_URL`, with the task's token as
 * `ANTHROPIC_API_KEY`, a sandbox secret): see `anthropicGateway`.
 */
export const CLAUDE_CODE_ENV: Readonly<Record<string, string>> = {
  IS_SANDBOX: '1',
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  DISABLE_AUTOUPDATER: '1',
  DISABLE_TELEMETRY: '1',
  DISABLE_ERROR_REPORTING: '1',
};

/**
 * Builds `claude -p ... -- <prompt>`. After `--` a prompt starting with `-` is still the prompt;
 * `--model=` and `--resume=` keep a value starting with `-` a value (`--resume` takes an optional one).
 */
export function claudeCodeCommand(ctx: HarnessContext): HarnessCommand {
  const { config } = ctx;
  const argv = [
    config.claudeBin,
    '-p',
    '--output-format',
    'stream-json',
    '--verbose',
    '--max-turns',
    String(ctx.maxTurns),
    '--permission-mode',
    config.claudePermissionMode,
  ];
  const model = ctx.model ?? config.claudeModel;
  if (model) argv.push(`--model=${model}`);
  if (ctx.resumeSessionId) argv.push(`--resume=${ctx.resumeSessionId}`);
  if (ctx.maxCostUsd !== undefined) argv.push(`--max-budget-usd=${ctx.maxCostUsd}`);
  argv.push('--', ctx.prompt);
  const gateway = anthropicGateway(ctx.gateway);
  return { argv, env: { ...CLAUDE_CODE_ENV, ...gateway.env }, secrets: gateway.secrets };
}

/**
 * What Claude Code keeps in HOME: `.claude/` holds the sessions
 * (`projects/<working directory with every non-alphanumeric character as "-">/<session id>.jsonl`),
 * `.claude.json` its settings. `--resume=<id>` finds the session file in any project directory, so a
 * follow-up resumes it although its working tree has a different path.
 */
export const CLAUDE_CODE_SESSION_FILES = ['.claude', '.claude.json'] as const;

/** The Claude Code CLI (`@anthropic-ai/claude-code`) in print mode with stream-json output. */
export const claudeCodeHarness: Harness = {
  name: 'claude-code',
  command: claudeCodeCommand,
  createParser: () => new StreamJsonParser(),
  sessionFiles: CLAUDE_CODE_SESSION_FILES,
};
