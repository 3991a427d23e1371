import { codexProviderArgs, openaiGateway } from './gateway-env.js';
import type { Harness, HarnessCommand, HarnessContext } from './harness.js';
import { CodexParser } from './codex-parser.js';

/** A Codex thread id as `codex exec resume` takes it (a UUID; never an option). */
const THREAD_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,99}$/;

/**
 * Builds `codex exec --json --skip-git-repo-check -s danger-full-access [--model=m] -- <prompt>`,
 * or for a follow-up `codex exec ... resume <thread id> -- <prompt>` (the options before `resume`:
 * `-s` belongs to `exec`). The sandbox is the isolation, so Codex's own is off; the run script gives
 * it `/dev/null` as stdin (with stdin open it waits for more input). After `--` a prompt starting
 * with `-` is still the prompt. Codex has no turn limit flag. With OpenAI credentials in the model
 * gateway, `-c` overrides make the gateway its model provider (`codexProviderArgs`), the task's
 * token in `AGENTQ_MODEL_TOKEN`.
 */
export function codexCommand(ctx: HarnessContext): HarnessCommand {
  const argv = ['codex', 'exec', '--json', '--skip-git-repo-check', '-s', 'danger-full-access', ...codexProviderArgs(ctx.gateway)];
  if (ctx.model) argv.push(`--model=${ctx.model}`);
  if (ctx.resumeSessionId && THREAD_ID.test(ctx.resumeSessionId)) argv.push('resume', ctx.resumeSessionId);
  argv.push('--', ctx.prompt);
  const gateway = openaiGateway(ctx.gateway);
  return { argv, env: gateway.env, secrets: gateway.secrets };
}

/**
 * The Codex CLI (`@openai/codex`, on the sandbox's `PATH`) in `exec --json` mode, calling its model
 * through the model gateway. Sessions live in `~/.codex/sessions`, found by thread id on resume.
 */
export const codexHarness: Harness = {
  name: 'codex',
  command: codexCommand,
  createParser: () => new CodexParser(),
  sessionFiles: ['.codex'],
};
