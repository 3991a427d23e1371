import { isAgentqError, type Config, type Logger, type TaskRecord } from '@agentq/shared';
import type { App } from '@slack/bolt';
import { parseTaskText, stripLeadingMentions } from './command-text.js';
import { escapeText, mentionUsageText } from './slack-messages.js';
import { slackErrorText, type SlackActor, type SlackTasks } from './slack-tasks.js';

/** Slack delivers an event at most this many times again; the last delivery tells the person when agentq is down. */
const LAST_RETRY = 3;

/** Errors after which a later delivery of the same event may succeed. */
const TRANSIENT = new Set(['INGRESS_UNAVAILABLE', 'INGRESS_IDEMPOTENCY_IN_PROGRESS']);

class Refusal extends Error {}

/**
 * `@agentq owner/repo do X` starts a task whose thread is the mention's; a mention in a task's
 * thread is a follow-up of the thread's latest task (same repository, its branch and agent
 * session, queued behind it while it runs). Problems are answered ephemerally to the person.
 */
export function registerMentionHandler(bolt: App, deps: { config: Config; tasks: SlackTasks; logger: Logger; command: string }): void {
  const { tasks, logger, config } = deps;
  bolt.event('app_mention', async ({ event, body, client, context }) => {
    if (event.bot_id || event.bot_profile || event.subtype || !event.user || event.user === context.botUserId) return;
    const user = event.user;
    const actor: SlackActor = { teamId: body.team_id, channel: event.channel, userId: user };
    if (body.enterprise_id) actor.enterpriseId = body.enterprise_id;
    const reply = async (text: string) => {
      await client.chat.postEphemeral({ channel: event.channel, user, text, ...(event.thread_ts ? { thread_ts: event.thread_ts } : {}) });
    };

    try {
      const text = stripLeadingMentions(event.text ?? '');
      const parent = event.thread_ts ? await tasks.threadTask(actor.teamId, actor.channel, event.thread_ts) : undefined;
      const deliveryKey = `event:${body.event_id}`;
      if (parent && event.thread_ts) {
        await tasks.start({ ...followUp(text, parent, config), actor, deliveryKey, threadTs: event.thread_ts, followUpOf: parent });
        return;
      }
      const parsed = parseTaskText(text, 'required');
      if (!parsed.ok) {
        throw new Refusal(parsed.reason === 'no-repo' ? mentionUsageText(deps.command) : `:warning: ${escapeText(parsed.problem)}.`);
      }
      await tasks.start({
        actor,
        repo: parsed.repo as string,
        prompt: parsed.prompt,
        options: parsed.options,
        deliveryKey,
        threadTs: event.thread_ts ?? event.ts,
      });
    } catch (err) {
      if (err instanceof Refusal) return reply(err.message);
      const transient = isAgentqError(err) && TRANSIENT.has(err.code);
      if (transient && (context.retryNum ?? 0) < LAST_RETRY) throw err;
      await reply(slackErrorText(err, logger));
    }
  });
}

/** The follow-up request: the thread's repository, the parent's harness and settings unless the message changes them. */
function followUp(text: string, parent: TaskRecord, config: Config) {
  const parsed = parseTaskText(text, 'optional');
  if (!parsed.ok) throw new Refusal(`:warning: ${escapeText(parsed.problem)}.`);
  if (parsed.repo !== undefined && parsed.repo !== parent.repo) {
    throw new Refusal(
      `:warning: this thread works on \`${escapeText(parent.repo)}\`; mention me outside the thread to start a task on \`${escapeText(parsed.repo)}\`.`,
    );
  }
  const harness = parent.harness ?? config.harness;
  if (parsed.options.harness !== undefined && parsed.options.harness !== harness) {
    throw new Refusal(`:warning: a follow-up continues the agent session, so it runs with the thread's harness (${harness}).`);
  }
  return {
    repo: parent.repo,
    prompt: parsed.prompt,
    options: parsed.options,
    inherit: { baseRef: parent.baseRef, harness: parent.harness, model: parent.model, limits: parent.limits, priority: parent.priority },
  };
}
