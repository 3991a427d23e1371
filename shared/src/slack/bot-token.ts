import type { Redis } from 'ioredis';
import type { Config } from '../config/load-config.js';
import { AgentqError } from '../errors.js';
import type { RedisKeys } from '../redis/keys.js';
import { RedisInstallationStore } from './installation-store.js';

/** The Slack workspace a token is wanted for (a task's `slack` context fits). */
export interface SlackWorkspace {
  teamId: string;
  enterpriseId?: string;
}

export type SlackTokenResolver = (workspace: SlackWorkspace) => Promise<string>;

/**
 * Bot tokens by workspace. One workspace: `SLACK_BOT_TOKEN`. With the install flow: the
 * workspace's (or its enterprise's) installation from Redis, else `SLACK_BOT_TOKEN` when it is
 * set too. Throws `SLACK_NOT_CONFIGURED` without Slack, `SLACK_NOT_INSTALLED` for a workspace
 * with no token.
 */
export function createSlackTokenResolver(deps: { config: Config; redis: Redis; keys: RedisKeys }): SlackTokenResolver {
  const slack = deps.config.slack;
  if (!slack) {
    return async () => {
      throw new AgentqError('SLACK_NOT_CONFIGURED', 'Slack is not configured');
    };
  }
  const store = slack.oauth ? new RedisInstallationStore(deps.redis, deps.keys, slack.oauth.clientSecret) : undefined;
  return async (workspace) => {
    if (store) {
      const installation = await store.find({ teamId: workspace.teamId, enterpriseId: workspace.enterpriseId, isEnterpriseInstall: false });
      if (installation?.bot?.token) return installation.bot.token;
    }
    if (slack.botToken) return slack.botToken;
    throw new AgentqError('SLACK_NOT_INSTALLED', `agentq is not installed in Slack workspace ${workspace.teamId}`, { status: 404 });
  };
}
