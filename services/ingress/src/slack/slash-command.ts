import type { Logger } from '@agentq/shared';
import type { App, SlashCommand as SlackSlashCommand } from '@slack/bolt';
import { parseSlashCommand, type SlashCommand } from './command-text.js';
import { ephemeral, escapeText, helpText, queuedText, taskDetails, taskLine } from './slack-messages.js';
import { slackErrorText, type SlackActor, type SlackTasks } from './slack-tasks.js';

export const STATUS_LIMIT = 5;
export const LIST_LIMIT = 10;

export function commandActor(body: SlackSlashCommand): SlackActor {
  const actor: SlackActor = { teamId: body.team_id, channel: body.channel_id, userId: body.user_id };
  if (body.enterprise_id) actor.enterpriseId = body.enterprise_id;
  return actor;
}

async function answer(command: SlashCommand, body: SlackSlashCommand, tasks: SlackTasks, name: string): Promise<string> {
  const actor = commandActor(body);
  switch (command.kind) {
    case 'help':
      return helpText(name);
    case 'invalid':
      return `:warning: ${escapeText(command.problem)}. See \`${name} help\`.`;
    case 'task': {
      const started = await tasks.start({
        actor,
        repo: command.repo,
        prompt: command.prompt,
        options: command.options,
        deliveryKey: `command:${body.trigger_id}`,
      });
      return queuedText(started, started.viewerUrl, started.replayed);
    }
    case 'status': {
      if (command.id) {
        const task = await tasks.find(command.id, actor);
        return taskDetails(task, tasks.viewerUrl(task.id));
      }
      const mine = await tasks.recent(actor, STATUS_LIMIT, (slack) => slack.userId === actor.userId);
      if (mine.length === 0) return `You have no tasks yet. Start one with \`${name} owner/repo what to do\`.`;
      return ['Your latest tasks:', ...mine.map((t) => taskLine(t, tasks.viewerUrl(t.id)))].join('\n');
    }
    case 'list': {
      const found = await tasks.recent(actor, LIST_LIMIT, (slack) => command.all || slack.channel === actor.channel);
      const where = command.all ? 'this workspace' : 'this channel';
      if (found.length === 0) return `No tasks in ${where} yet.`;
      return [`Recent tasks of ${where}:`, ...found.map((t) => taskLine(t, tasks.viewerUrl(t.id)))].join('\n');
    }
    case 'cancel': {
      const task = await tasks.find(command.id, actor);
      const result = await tasks.cancel(task, actor);
      return result.cancelRequested
        ? `:stop_button: Cancel requested for \`${task.id}\`; it stops shortly.`
        : `:no_entry_sign: Canceled \`${task.id}\`.`;
    }
  }
}

/**
 * The slash command. Every answer is the acknowledgement itself, an ephemeral message; a task is
 * acknowledged only once its job is queued.
 */
export function registerSlashCommand(bolt: App, deps: { command: string; tasks: SlackTasks; logger: Logger }): void {
  const { command: name, tasks, logger } = deps;
  bolt.command(name, async ({ command: body, ack }) => {
    let text: string;
    try {
      text = await answer(parseSlashCommand(body.text ?? ''), body, tasks, name);
    } catch (err) {
      text = slackErrorText(err, logger);
    }
    await ack(ephemeral(text));
  });
}
