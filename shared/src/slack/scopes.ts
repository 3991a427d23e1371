/** Bot scopes agentq asks for when installed (the same as in `deploy/slack/app-manifest.yaml`). */
export const SLACK_BOT_SCOPES = [
  'commands',
  'app_mentions:read',
  'chat:write',
  'chat:write.public',
  'channels:history',
  'groups:history',
] as const;
