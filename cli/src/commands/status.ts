import type { Command } from 'commander';
import { formatRows, statusRows } from '../render/task-summary.js';
import type { CommandContext } from './context.js';

export function registerStatus(program: Command, ctx: CommandContext): void {
  program
    .command('status')
    .description('show a task: state, times, branch, commit, changes, cost, error')
    .argument('<id>', 'task id')
    .option('--json', 'print the task record as JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      const task = await ctx.client().getTask(id);
      if (options.json) ctx.json(task);
      else ctx.out(formatRows(statusRows(task, Date.now()), ctx.style));
    });
}
