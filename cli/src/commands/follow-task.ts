import type { TaskView } from '../api/api-client.js';
import { isAbort } from '../api/api-client.js';
import { followEvents } from '../api/event-stream.js';
import { EXIT, exitCodeForState } from '../exit-codes.js';
import { formatDuration } from '../render/format.js';
import { ProgressView } from '../render/progress-view.js';
import { formatOutcome } from '../render/task-summary.js';
import type { CommandContext } from './context.js';

export interface FollowTaskOptions {
  json: boolean;
  /** The viewer link, when known (the submit answer carries it). */
  viewerUrl?: string;
  /** The task's creation time, when known: elapsed times count from it. */
  createdAt?: string;
}

/**
 * Shows a task's events live until it ends, then its outcome. Answers the exit code for the
 * task's final state (0 succeeded, 1 failed, 3 canceled, 4 timed out).
 */
export async function followTask(ctx: CommandContext, taskId: string, options: FollowTaskOptions): Promise<number> {
  const { io } = ctx;
  const client = ctx.client();
  const view = options.json ? undefined : new ProgressView(io.stdout, { live: Boolean(io.stdout.isTTY), style: ctx.style });
  view?.setStart(options.createdAt);
  const notice = (text: string) => (view ? view.notice(text) : io.stderr.write(`${text}\n`));
  let result;
  try {
    result = await followEvents(
      client,
      taskId,
      {
        onEvent: (event) => (view ? view.event(event) : io.stdout.write(`${JSON.stringify(event)}\n`)),
        onReconnect: ({ delayMs, reason }) => notice(`event stream interrupted: ${reason}; reconnecting in ${formatDuration(delayMs)}`),
        onConnected: ({ reconnected }) => {
          if (reconnected) notice('event stream reconnected');
        },
      },
      { signal: io.signal },
    );
  } catch (err) {
    view?.stop();
    if (io.signal?.aborted || isAbort(err)) {
      io.stderr.write(`\nstopped following task ${taskId}; it keeps running (agentq cancel ${taskId} stops it)\n`);
      return EXIT.interrupted;
    }
    throw err;
  }
  view?.stop();

  let task: TaskView;
  try {
    task = await client.getTask(taskId);
  } catch {
    // The outcome from the final event is enough to report and exit with.
    task = { id: taskId, state: result.final.state, ...(result.final.error ? { error: result.final.error } : {}) } as TaskView;
  }
  if (!options.json) ctx.out(`\n${formatOutcome(task, options.viewerUrl, ctx.style)}`);
  return exitCodeForState(task.state) ?? exitCodeForState(result.final.state) ?? EXIT.usage;
}
