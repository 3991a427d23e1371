import type { Harness, HarnessCommand, HarnessContext } from './harness.js';
import { StreamJsonParser } from './stream-json-parser.js';
import { dispatchError } from '../dispatch-errors.js';
import { anyGateway } from './gateway-env.js';

/**
 * Splits a command line into words as a POSIX shell does, without any expansion: blanks separate
 * words, `'...'` quotes literally, `"..."` quotes with `\` escaping `"`, `\`, `$` and `` ` ``, and
 * `\` outside quotes escapes the next character. Returns undefined for an unterminated quote.
 */
export function splitCommandLine(line: string): string[] | undefined {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return undefined;
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line.charAt(j) !== '"'; j++) {
        const d = line.charAt(j);
        if (d === '\\' && j + 1 < line.length && '"\\$`'.includes(line.charAt(j + 1))) {
          word += line.charAt(j + 1);
          j++;
        } else word += d;
      }
      if (j >= line.length) return undefined;
      inWord = true;
      i = j;
    } else if (c === '\\') {
      if (i + 1 < line.length) word += line.charAt(i + 1);
      inWord = true;
      i++;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * Runs `AGENTQ_HARNESS_COMMAND` with the prompt as its last argument. The program also finds the
 * prompt in `AGENTQ_PROMPT`, the task's model (if any) in `AGENTQ_MODEL`, its turn limit in
 * `AGENTQ_MAX_TURNS` and, for a follow-up, the session to resume in `AGENTQ_RESUME_SESSION_ID`.
 * It may call its model through the gateway: `ANTHROPIC_BASE_URL`/`ANTHROPIC_API_KEY` and
 * `OPENAI_BASE_URL`/`AGENTQ_MODEL_TOKEN`, for the providers the gateway has credentials for.
 */
export function commandHarnessCommand(ctx: HarnessContext): HarnessCommand {
  const line = ctx.config.harnessCommand;
  if (line === undefined) {
    throw dispatchError('DISPATCH_HARNESS_NOT_CONFIGURED', 'the command harness needs AGENTQ_HARNESS_COMMAND, which is not set');
  }
  const words = splitCommandLine(line);
  if (!words || words.length === 0) {
    throw dispatchError('DISPATCH_HARNESS_NOT_CONFIGURED', 'AGENTQ_HARNESS_COMMAND is not a valid command line');
  }
  const env: Record<string, string> = { AGENTQ_PROMPT: ctx.prompt, AGENTQ_MAX_TURNS: String(ctx.maxTurns) };
  if (ctx.model) env.AGENTQ_MODEL = ctx.model;
  if (ctx.resumeSessionId) env.AGENTQ_RESUME_SESSION_ID = ctx.resumeSessionId;
  const gateway = anyGateway(ctx.gateway);
  // the configured program's own files (a script it runs), never the prompt
  return { argv: [...words, ctx.prompt], env: { ...env, ...gateway.env }, secrets: gateway.secrets, readPaths: words.slice(1).filter((w) => w.startsWith('/')) };
}

/**
 * Any program, from `AGENTQ_HARNESS_COMMAND`, printing JSON lines or plain text. Its output is read
 * as Claude Code's stream-json: lines with a stream-json `type` (`system`, `assistant`, `user`,
 * `result`) map as Claude Code's (so a final `result` line gives the summary, turns and cost), other
 * JSON lines pass through as `raw`, and plain text lines become `log` events.
 */
export const commandHarness: Harness = {
  name: 'command',
  command: commandHarnessCommand,
  createParser: () => new StreamJsonParser(),
  sessionFiles: [],
};
