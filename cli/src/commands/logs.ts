import type { Command } from 'commander';
import { ProgressView } from '../render/progress-view.js';
import type { CommandContext } from './context.js';
import { followTask } from './follow-task.js';

export function registerLogs(program: Command, ctx: CommandContext): void {
  program
    .command('logs')
    .description("print a task's transcript; with --follow, stream it until the task ends")
    .argument('<id>', 'task id')
    .option('-f, --follow', 'keep streaming until the task ends; the exit code tells the outcome')
    .option('--json', 'print events as JSON, one per line')
    .action(async (id: string, options: { follow?: boolean; json?: boolean }) => {
      const client = ctx.client();
      if (options.follow) {
        const task = await client.getTask(id);
        ctx.exitCode = await followTask(ctx, id, {
          json: Boolean(options.json),
          createdAt: task.createdAt,
          ...(task.viewerUrl ? { viewerUrl: task.viewerUrl } : {}),
        });
        return;
      }
      const events = await client.transcript(id);
      if (options.json) {
        for (const event of events) ctx.out(`${JSON.stringify(event)}\n`);
        return;
      }
      const view = new ProgressView(ctx.io.stdout, { live: false, style: ctx.style });
      for (const event of events) view.event(event);
      view.stop();
    });
}
