import type { Authorize, AuthorizeResult, AuthorizeSourceData } from '@slack/bolt';
import type { InstallProvider } from '@slack/oauth';
import type { WebClient } from '@slack/web-api';

interface SingleWorkspace {
  result: AuthorizeResult;
  teamId: string | undefined;
  enterpriseId: string | undefined;
}

/**
 * Bolt's `authorize`: with the install flow, the installation of the request's workspace (or
 * enterprise) from the installation store; `SLACK_BOT_TOKEN` serves its own workspace, and every
 * request when there is no install flow. The bot token's identity (`auth.test`) is looked up
 * once at start, and again on use after a failure.
 */
export function createSlackAuthorize(options: { botToken?: string; installer?: InstallProvider; client: WebClient }): Authorize<boolean> {
  const { botToken, installer, client } = options;
  let single: Promise<SingleWorkspace> | undefined;
  const singleWorkspace = (token: string): Promise<SingleWorkspace> => {
    single ??= client.auth.test({ token }).then(
      (test) => ({
        result: { botToken: token, botId: test.bot_id, botUserId: test.user_id },
        teamId: test.team_id,
        enterpriseId: test.enterprise_id,
      }),
      (err: unknown) => {
        single = undefined;
        throw err;
      },
    );
    return single;
  };

  // learn the bot token's identity now, so that no request waits on Slack for it (a failure is retried on first use)
  if (botToken) singleWorkspace(botToken).catch(() => undefined);

  return async (source: AuthorizeSourceData<boolean>): Promise<AuthorizeResult> => {
    if (!installer) {
      if (!botToken) throw new Error('no Slack bot token configured');
      return { ...(await singleWorkspace(botToken)).result };
    }
    try {
      return await installer.authorize(source);
    } catch (err) {
      if (!botToken) throw err;
      const own = await singleWorkspace(botToken);
      const sameTeam = source.teamId !== undefined && own.teamId === source.teamId;
      const sameEnterprise = source.enterpriseId !== undefined && own.enterpriseId === source.enterpriseId;
      if (sameTeam || sameEnterprise) return { ...own.result };
      throw err;
    }
  };
}
