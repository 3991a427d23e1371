import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isAbort } from './api/api-client.js';
import { CliError } from './api/cli-error.js';
import type { ConnectionOptions } from './api/connection.js';
import { registerCancel } from './commands/cancel.js';
import { CommandContext } from './commands/context.js';
import { registerList } from './commands/list.js';
import { registerLogs } from './commands/logs.js';
import { registerRepo } from './commands/repo.js';
import { registerStatus } from './commands/status.js';
import { registerSubmit } from './commands/submit.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const MORE_HELP = `
Server and token:
  --url, else AGENTQ_URL, else http://localhost:<AGENTQ_PORT or 8080>
  --token, else AGENTQ_TOKEN, else the file <AGENTQ_DATA_DIR or ./.data>/api-token written by npm start

Exit codes:
    0  done; a followed task succeeded
    1  a followed task failed
    2  usage error, or the request failed (API error, agentq not reachable)
    3  a followed task was canceled
    4  a followed task timed out
  130  interrupted while following (the task keeps running)
`;

export function buildProgram(ctx: CommandContext): Command {
  const program = new Command('agentq')
    .description('Queue coding-agent tasks on agentq, follow them, and look at their results.')
    .version(VERSION, '-V, --version')
    .option('--url <url>', 'agentq API base URL (env AGENTQ_URL)')
    .option('--token <token>', 'API token (env AGENTQ_TOKEN)')
    .addHelpText('after', MORE_HELP)
    .showHelpAfterError('(run agentq --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => ctx.io.stdout.write(text),
      writeErr: (text) => ctx.io.stderr.write(text),
    });
  registerSubmit(program, ctx);
  registerStatus(program, ctx);
  registerLogs(program, ctx);
  registerCancel(program, ctx);
  registerList(program, ctx);
  registerRepo(program, ctx);
  for (const command of program.commands) {
    command.exitOverride();
    for (const sub of command.commands) sub.exitOverride();
  }
  return program;
}

/** Runs the `agentq` command with `argv` (the arguments after the program name); answers the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const holder: { program?: Command } = {};
  const ctx = new CommandContext(io, () => (holder.program?.opts() ?? {}) as ConnectionOptions);
  const program = buildProgram(ctx);
  holder.program = program;
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ctx.exitCode;
  } catch (err) {
    return report(err, ctx);
  }
}

function report(err: unknown, ctx: CommandContext): number {
  const { stderr } = ctx.io;
  const s = ctx.errStyle;
  if (err instanceof CommanderError) {
    // commander printed the message (or the help / version) already
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (err instanceof CliError) {
    const code = err.code.startsWith('CLI_') ? '' : `${err.code}: `;
    stderr.write(`${s.red('error:')} ${code}${err.message}\n`);
    if (err.hint) stderr.write(`${s.dim('hint:')} ${err.hint}\n`);
    return err.exitCode;
  }
  if (ctx.io.signal?.aborted || isAbort(err)) {
    stderr.write('interrupted\n');
    return EXIT.interrupted;
  }
  stderr.write(`${s.red('error:')} ${err instanceof Error ? err.message : String(err)}\n`);
  return EXIT.usage;
}
