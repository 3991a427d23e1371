import type { Command } from 'commander';
import { isFinal } from '../exit-codes.js';
import type { CommandContext } from './context.js';

export function registerCancel(program: Command, ctx: CommandContext): void {
  program
    .command('cancel')
    .description('cancel a task: a queued task ends at once, a running one once its sandbox is stopped')
    .argument('<id>', 'task id')
    .option('--json', 'print the answer as JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      const answer = await ctx.client().cancel(id);
      if (options.json) {
        ctx.json(answer);
        return;
      }
      const state = typeof answer.state === 'string' ? answer.state : undefined;
      if (state && isFinal(state)) ctx.out(`task ${id} ${state === 'canceled' ? 'canceled' : `is ${state}`}\n`);
      else ctx.out(`cancel requested for task ${id}${state ? ` (state: ${state})` : ''}; it stops once its sandbox is torn down\n`);
    });
}
