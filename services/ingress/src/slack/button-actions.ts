import { isTaskId, type Logger } from '@agentq/shared';
import type { App, BlockAction, ButtonAction, RespondFn } from '@slack/bolt';
import { taskNotFound } from '../http/ingress-errors.js';
import { retriedText } from './slack-messages.js';
import { slackErrorText, type SlackActor, type SlackTasks } from './slack-tasks.js';

export const CANCEL_ACTION = 'agentq_cancel';
export const RETRY_ACTION = 'agentq_retry';

function actorOf(body: BlockAction): SlackActor {
  const actor: SlackActor = {
    teamId: body.team?.id ?? body.user.team_id ?? '',
    channel: body.channel?.id ?? '',
    userId: body.user.id,
  };
  const enterpriseId = body.enterprise?.id ?? body.team?.enterprise_id;
  if (enterpriseId) actor.enterpriseId = enterpriseId;
  return actor;
}

function taskIdOf(action: ButtonAction): string {
  const id = action.value ?? '';
  if (!isTaskId(id)) throw taskNotFound(id);
  return id;
}

async function answer(respond: RespondFn, text: string, logger: Logger): Promise<void> {
  try {
    await respond({ response_type: 'ephemeral', replace_original: false, text });
  } catch (err) {
    logger.warn({ err }, 'could not answer a slack button');
  }
}

/**
 * The buttons of a task's status message: Cancel (the person who asked, or an admin) and Retry
 * (a new run of the same request in the same thread). The click is acknowledged at once; the
 * outcome is an ephemeral answer to the person who clicked.
 */
export function registerButtonActions(bolt: App, deps: { tasks: SlackTasks; logger: Logger }): void {
  const { tasks, logger } = deps;

  bolt.action<BlockAction<ButtonAction>>({ type: 'block_actions', action_id: CANCEL_ACTION }, async ({ ack, body, action, respond }) => {
    await ack();
    let text: string;
    try {
      const actor = actorOf(body);
      const task = await tasks.find(taskIdOf(action), actor);
      const result = await tasks.cancel(task, actor);
      text = result.cancelRequested
        ? `:stop_button: Cancel requested for \`${task.id}\`; it stops shortly.`
        : `:no_entry_sign: Canceled \`${task.id}\`.`;
    } catch (err) {
      text = slackErrorText(err, logger);
    }
    await answer(respond, text, logger);
  });

  bolt.action<BlockAction<ButtonAction>>({ type: 'block_actions', action_id: RETRY_ACTION }, async ({ ack, body, action, respond }) => {
    await ack();
    let text: string;
    try {
      const clicked = actorOf(body);
      const original = await tasks.find(taskIdOf(action), clicked);
      const channel = original.slack?.channel ?? clicked.channel;
      const message = body.message;
      const threadTs = original.slack?.threadTs ?? (message?.thread_ts as string | undefined) ?? message?.ts;
      const started = await tasks.start({
        actor: { ...clicked, channel },
        repo: original.repo,
        prompt: original.prompt,
        inherit: { baseRef: original.baseRef, harness: original.harness, model: original.model, limits: original.limits, priority: original.priority },
        deliveryKey: `action:${body.trigger_id}`,
        threadTs,
      });
      text = retriedText(original.id, started, started.viewerUrl);
    } catch (err) {
      text = slackErrorText(err, logger);
    }
    await answer(respond, text, logger);
  });
}
