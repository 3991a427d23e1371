import { isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import type { CommandContext } from './context.js';

/**
 * The source as the server should see it: URLs and scp-style git addresses as given, local paths
 * made absolute (the server does not share this shell's working directory).
 */
export function normalizeSource(source: string, cwd: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) return source;
  if (/^[^/\s]+@[^/\s:]+:/.test(source)) return source;
  return isAbsolute(source) ? source : resolve(cwd, source);
}

export function registerRepo(program: Command, ctx: CommandContext): void {
  const repo = program.command('repo').description('manage the repositories of the local git forge');
  repo
    .command('add')
    .description('import a repository (a local path or a git URL) under the name owner/name')
    .argument('<repo>', 'name to give it, as owner/name')
    .argument('<source>', 'local path or git URL to import from')
    .option('--json', 'print the answer as JSON')
    .action(async (name: string, source: string, options: { json?: boolean }) => {
      const answer = await ctx.client().addRepo(name, normalizeSource(source, ctx.io.cwd));
      if (options.json) ctx.json(answer);
      else ctx.out(`added repository ${name}; submit tasks with: npx agentq submit ${name} "<prompt>"\n`);
    });
}
