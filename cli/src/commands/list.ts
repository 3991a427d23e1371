import { Option, type Command } from 'commander';
import { TASK_STATE_NAMES } from '../exit-codes.js';
import { formatAgo, oneLine } from '../render/format.js';
import type { Style } from '../render/style.js';
import { triggerPrefix } from '../render/task-summary.js';
import type { TaskView } from '../api/api-client.js';
import type { CommandContext } from './context.js';
import { intOption } from './parse-options.js';

interface ListOptions {
  state?: string;
  repo?: string;
  limit?: number;
  json?: boolean;
}

export function registerList(program: Command, ctx: CommandContext): void {
  program
    .command('list')
    .description('list tasks, newest first')
    .addOption(new Option('--state <state>', 'only tasks in this state').choices(TASK_STATE_NAMES))
    .option('--repo <repo>', 'only tasks on this repository (owner/name)')
    .option('--limit <n>', 'at most this many tasks', intOption(1, 1000))
    .option('--json', 'print the tasks as JSON')
    .action(async (options: ListOptions) => {
      const tasks = await ctx.client().listTasks({
        ...(options.state ? { state: options.state } : {}),
        ...(options.repo ? { repo: options.repo } : {}),
        ...(options.limit !== undefined ? { limit: options.limit } : {}),
      });
      if (options.json) {
        ctx.json(tasks);
        return;
      }
      if (tasks.length === 0) {
        ctx.out('no tasks\n');
        return;
      }
      ctx.out(formatTable(tasks, ctx.style, ctx.io.stdout.isTTY ? ctx.io.stdout.columns : undefined, Date.now()));
    });
}

function formatTable(tasks: TaskView[], style: Style, columns: number | undefined, now: number): string {
  const rows = tasks.map((t) => [t.id, t.state, t.repo, formatAgo(t.createdAt, now), `${triggerPrefix(t)}${t.prompt ?? ''}`]);
  const header = ['ID', 'STATE', 'REPO', 'CREATED', 'PROMPT'];
  const widths = header.slice(0, 4).map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fixed = widths.reduce((a, b) => a + b + 2, 0);
  const promptWidth = Math.max(20, (columns ?? 120) - fixed);
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i < 4 ? cell.padEnd(widths[i] ?? 0) : oneLine(cell, promptWidth)))
      .join('  ')
      .trimEnd();
  return `${style.dim(line(header))}\n${rows.map((r) => `${line(r)}\n`).join('')}`;
}
