import { errorMessage, type Logger } from '@agentq/shared';
import { LogLevel, type Logger as SlackLogger } from '@slack/bolt';

/** Slack tokens of any kind (bot, user, app, config, refresh), wherever they appear in a message. */
const SLACK_TOKEN = /xox[a-z]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+/g;

export function scrubSlackTokens(text: string): string {
  return text.replace(SLACK_TOKEN, '[REDACTED]');
}

function describe(parts: unknown[]): string {
  return scrubSlackTokens(
    parts
      .map((part) => {
        if (typeof part === 'string') return part;
        if (part instanceof Error) return errorMessage(part);
        try {
          return JSON.stringify(part);
        } catch {
          return String(part);
        }
      })
      .join(' '),
  );
}

/**
 * The ingress logger as Bolt's, the Web API client's and the install flow's logger. Their
 * messages land in the `detail` field; Slack tokens are scrubbed from them (tokens of installed
 * workspaces are not known to the service's redactor). Their `info` chatter is logged at debug.
 */
export function slackLogger(logger: Logger): SlackLogger {
  const log = logger.child({ component: 'slack' });
  return {
    debug: (...msg: unknown[]) => log.debug({ detail: describe(msg) }, 'slack library'),
    info: (...msg: unknown[]) => log.debug({ detail: describe(msg) }, 'slack library'),
    warn: (...msg: unknown[]) => log.warn({ detail: describe(msg) }, 'slack library'),
    error: (...msg: unknown[]) => log.error({ detail: describe(msg) }, 'slack library'),
    setLevel: () => {},
    getLevel: () => (log.isLevelEnabled('debug') ? LogLevel.DEBUG : LogLevel.INFO),
    setName: () => {},
  };
}
