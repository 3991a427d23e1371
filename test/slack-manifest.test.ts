import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SLACK_BOT_SCOPES, loadConfig } from '@agentq/shared';

interface Manifest {
  features: { slash_commands: { command: string; url: string }[]; bot_user: { display_name: string } };
  oauth_config: { redirect_urls: string[]; scopes: { bot: string[] } };
  settings: {
    event_subscriptions: { request_url: string; bot_events: string[] };
    interactivity: { is_enabled: boolean; request_url: string };
    socket_mode_enabled: boolean;
  };
}

const manifest = parse(readFileSync(join(import.meta.dirname, '..', 'deploy', 'slack', 'app-manifest.yaml'), 'utf8')) as Manifest;
const base = 'https://agentq.example.com';

describe('the Slack app manifest', () => {
  it('sends every request to the ingress route that Bolt serves', () => {
    expect(manifest.features.slash_commands.map((c) => c.url)).toEqual([`${base}/slack/events`]);
    expect(manifest.settings.event_subscriptions.request_url).toBe(`${base}/slack/events`);
    expect(manifest.settings.interactivity).toEqual({ is_enabled: true, request_url: `${base}/slack/events` });
    expect(manifest.oauth_config.redirect_urls).toEqual([`${base}/slack/oauth_redirect`]);
    expect(manifest.settings.socket_mode_enabled).toBe(false);
  });

  it('names the default slash command and the events and scopes agentq uses', () => {
    const config = loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1-2-abc', SLACK_SIGNING_SECRET: 'signing-secret-1' });
    expect(manifest.features.slash_commands.map((c) => c.command)).toEqual([config.slack?.command]);
    expect(manifest.settings.event_subscriptions.bot_events).toEqual(['app_mention']);
    // the install flow asks for exactly these
    expect([...manifest.oauth_config.scopes.bot].sort()).toEqual([...SLACK_BOT_SCOPES].sort());
  });
});
