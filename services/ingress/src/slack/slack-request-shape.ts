import { defineErrors } from '@agentq/shared';
import { z } from 'zod';

/** Log codes of Slack requests the ingress acknowledges without acting on them (Slack gets a 200, so it does not send them again). */
export const SLACK_LOG_CODES = defineErrors({
  SLACK_REQUEST_MALFORMED: {
    meaning:
      'a validly signed Slack request that is not a slash command, interaction or Events API callback of the expected shape (missing fields, wrong types, ids such as `constructor` or `__proto__`); acknowledged with 200, logged, nothing done',
  },
});

/**
 * A Slack id (team, enterprise, user, channel): upper-case letters and digits, as Slack makes
 * them. Names such as `__proto__` or `constructor` are not ids and never reach a lookup.
 */
const slackId = z.string().regex(/^[A-Z0-9][A-Z0-9_]{0,63}$/);
const optionalId = slackId.nullish().or(z.literal(''));
const withId = z.looseObject({ id: slackId });

/** `POST /slack/events` with a slash command (form fields, all strings). */
const slashCommand = z.looseObject({
  command: z.string().regex(/^\/\S{1,64}$/),
  text: z.string().max(40_000).optional(),
  team_id: slackId,
  user_id: slackId,
  channel_id: slackId,
  enterprise_id: optionalId,
  trigger_id: z.string().min(1).max(200),
  response_url: z.url().optional(),
});

/** An interaction (buttons, shortcuts, modals): the JSON of the form's `payload` field. */
const interaction = z.looseObject({
  type: z.string().min(1).max(100),
  team: withId.nullable(),
  user: z.looseObject({ id: slackId, team_id: slackId.optional() }),
  enterprise: withId.nullish(),
  channel: withId.nullish(),
  trigger_id: z.string().max(200).optional(),
  actions: z.array(z.looseObject({ action_id: z.string().max(255), value: z.string().max(2000).optional() })).max(25).optional(),
});

const authorization = z.looseObject({ team_id: optionalId, enterprise_id: optionalId, user_id: slackId.optional() });

/** An Events API callback (JSON). */
const eventCallback = z.looseObject({
  type: z.literal('event_callback'),
  team_id: slackId.optional(),
  enterprise_id: optionalId,
  event_id: z.string().min(1).max(200),
  authorizations: z.array(authorization).max(100).optional(),
  event: z.looseObject({
    type: z.string().min(1).max(100),
    user: z.union([slackId, withId]).optional(),
    team: slackId.optional(),
    user_team: slackId.optional(),
    channel: z.union([slackId, withId]).optional(),
    text: z.string().max(40_000).optional(),
    ts: z.string().max(40).optional(),
    thread_ts: z.string().max(40).optional(),
  }),
});

/** Why a verified Slack body is not one the app can act on (the fields at fault), or undefined when it is. */
export function slackBodyProblem(body: Record<string, unknown>): string | undefined {
  const schema = body.command !== undefined ? slashCommand : body.type === 'event_callback' ? eventCallback : interaction;
  const parsed = schema.safeParse(body);
  if (parsed.success) return undefined;
  return parsed.error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.map(String).join('.') || 'body'}: ${issue.message}`)
    .join('; ');
}
