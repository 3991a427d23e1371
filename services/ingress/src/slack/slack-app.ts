import { errorMessage, isAgentqError, type Logger, type SlackConfig, type SlackPolicy } from '@agentq/shared';
import { App } from '@slack/bolt';
import type { InstallProvider } from '@slack/oauth';
import { WebClient, type WebClientOptions } from '@slack/web-api';
import type { Redis } from 'ioredis';
import { registerButtonActions } from './button-actions.js';
import { registerMentionHandler } from './mention-handler.js';
import { createSlackAuthorize } from './slack-authorize.js';
import { slackLogger } from './slack-logger.js';
import { ephemeral, UNAVAILABLE_TEXT } from './slack-messages.js';
import { SlackReceiver } from './slack-receiver.js';
import { SlackTasks } from './slack-tasks.js';
import { registerSlashCommand } from './slash-command.js';
import type { TaskServices } from '../tasks/task-services.js';

export interface SlackAppDeps extends TaskServices {
  slack: SlackConfig;
  policy: SlackPolicy;
  redis: Redis;
  logger: Logger;
  viewerSecret: string;
  isShuttingDown: () => boolean;
  installer?: InstallProvider;
}

/** Options of every Slack Web API client of the ingress: the configured base URL, few and quick retries. */
export function webClientOptions(slack: SlackConfig, logger: Logger): WebClientOptions {
  return {
    slackApiUrl: slack.apiUrl,
    logger: slackLogger(logger),
    timeout: 10_000,
    retryConfig: { retries: 2, factor: 2, minTimeout: 250, maxTimeout: 2000 },
  };
}

/** The error itself, then what it wraps (Bolt and the install flow wrap errors in `original`). */
function* causes(err: unknown): Generator<unknown> {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    yield current;
    const next: unknown = (current as { original?: unknown }).original ?? (current as { cause?: unknown }).cause;
    current = next;
  }
}

/**
 * The Bolt app of the ingress: a receiver fed by `POST /slack/events`, `authorize` from the
 * bot token or the installation store, the slash command, mentions and the task buttons.
 */
export function buildSlackApp(deps: SlackAppDeps): { bolt: App; receiver: SlackReceiver; tasks: SlackTasks } {
  const { slack, logger, config } = deps;
  const command = slack.command;
  const clientOptions = webClientOptions(slack, logger);
  const receiver = new SlackReceiver({
    signingSecret: slack.signingSecret,
    logger,
    failureAnswer: (body, err) => {
      if (typeof body.command !== 'string') return undefined;
      for (const cause of causes(err)) {
        if (isAgentqError(cause) && cause.code === 'SLACK_NOT_INSTALLED') {
          const install = slack.oauth ? ` Install it: ${config.publicUrl}/slack/install` : '';
          return ephemeral(`:warning: agentq is not installed in this workspace.${install}`);
        }
      }
      logger.warn({ err: errorMessage(err) }, 'slack command failed before it was acknowledged');
      return ephemeral(UNAVAILABLE_TEXT);
    },
  });
  const bolt = new App({
    receiver,
    authorize: createSlackAuthorize({
      botToken: slack.botToken,
      installer: deps.installer,
      client: new WebClient(undefined, { ...clientOptions }),
    }),
    logger: slackLogger(logger),
    clientOptions: { ...clientOptions },
    ignoreSelf: true,
  });
  const tasks = new SlackTasks({
    config,
    store: deps.store,
    archive: deps.archive,
    forge: deps.forge,
    github: deps.github,
    intake: deps.intake,
    canceler: deps.canceler,
    redis: deps.redis,
    policy: deps.policy,
    viewerSecret: deps.viewerSecret,
    logger,
    isShuttingDown: deps.isShuttingDown,
  });
  registerSlashCommand(bolt, { command, tasks, logger });
  registerMentionHandler(bolt, { config, tasks, logger, command });
  registerButtonActions(bolt, { tasks, logger });
  return { bolt, receiver, tasks };
}
