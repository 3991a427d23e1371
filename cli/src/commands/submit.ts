import { TASK_PRIORITIES, harnessNameSchema, type TaskPriority } from '@agentq/shared';
import { Option, type Command } from 'commander';
import type { SubmitRequest } from '../api/api-client.js';
import { CliError } from '../api/cli-error.js';
import type { CommandContext } from './context.js';
import { followTask } from './follow-task.js';
import { intOption, usdOption } from './parse-options.js';

interface SubmitOptions {
  base?: string;
  harness?: string;
  model?: string;
  maxTurns?: number;
  timeout?: number;
  maxCost?: number;
  priority?: TaskPriority;
  idempotencyKey?: string;
  follow?: boolean;
  json?: boolean;
}

export function registerSubmit(program: Command, ctx: CommandContext): void {
  program
    .command('submit')
    .description('queue a task: an agent works on <repo> following <prompt> and pushes a branch')
    .argument('<repo>', 'repository, as owner/name')
    .argument('<prompt...>', 'what the agent should do (use - to read it from standard input)')
    .option('--base <ref>', 'branch, tag or commit to start from (default: the default branch)')
    .addOption(new Option('--harness <name>', 'coding agent to run (default: the server\'s)').choices(harnessNameSchema.options))
    .option('--model <model>', 'model for the agent')
    .option('--max-turns <n>', 'most agent turns', intOption(1, 1000))
    .option('--timeout <sec>', 'wall-clock limit in seconds', intOption(1, 7 * 24 * 3600))
    .option('--max-cost <usd>', 'spending limit in USD: past it the agent is stopped and the task fails', usdOption(10_000))
    .addOption(
      new Option('--priority <level>', 'how soon it starts while tasks wait for a free slot (default: normal)').choices(TASK_PRIORITIES),
    )
    .option('--idempotency-key <key>', 'submitting again with the same key returns the same task')
    .option('-f, --follow', 'show progress until the task ends; the exit code tells the outcome')
    .option('--json', 'print JSON (with --follow: the answer, then one event per line)')
    .action(async (repo: string, promptWords: string[], options: SubmitOptions) => {
      const prompt = promptWords.length === 1 && promptWords[0] === '-' ? await ctx.io.readStdin() : promptWords.join(' ');
      if (prompt.trim() === '') throw new CliError('CLI_USAGE', 'the prompt is empty');
      const request: SubmitRequest = { repo, prompt: prompt.trim() };
      if (options.base) request.baseRef = options.base;
      if (options.harness) request.harness = options.harness;
      if (options.model) request.model = options.model;
      if (options.priority) request.priority = options.priority;
      const limits: NonNullable<SubmitRequest['limits']> = {};
      if (options.maxTurns !== undefined) limits.maxTurns = options.maxTurns;
      if (options.timeout !== undefined) limits.timeoutSec = options.timeout;
      if (options.maxCost !== undefined) limits.maxCostUsd = options.maxCost;
      if (Object.keys(limits).length > 0) request.limits = limits;

      const task = await ctx.client().submit(request, options.idempotencyKey);
      if (options.json) {
        ctx.io.stdout.write(options.follow ? `${JSON.stringify(task)}\n` : `${JSON.stringify(task, null, 2)}\n`);
      } else {
        const s = ctx.style;
        ctx.out(`${s.bold(`queued task ${task.id}`)} on ${repo}\n`);
        if (task.viewerUrl) ctx.out(`  ${s.dim('viewer')}  ${task.viewerUrl}\n`);
        if (!options.follow) {
          if (task.statusUrl) ctx.out(`  ${s.dim('status')}  ${task.statusUrl}\n`);
          ctx.out(`follow it with: npx agentq logs ${task.id} -f\n`);
        }
      }
      if (options.follow) {
        ctx.exitCode = await followTask(ctx, task.id, { json: Boolean(options.json), ...(task.viewerUrl ? { viewerUrl: task.viewerUrl } : {}) });
      }
    });
}
