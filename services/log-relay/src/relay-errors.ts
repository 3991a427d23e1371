import { defineErrors } from '@agentq/shared';

/**
 * Every code the log relay uses. They appear in its logs (`code` field) and in the Slack
 * delivery state (`stopped`); operators alert and search on them, never on messages.
 */
export const RELAY_ERRORS = defineErrors({
  RELAY_REDIS_ERROR: { meaning: 'a Redis connection reported an error; the connection retries by itself' },
  RELAY_REDIS_UNREACHABLE: { meaning: 'Redis could not be reached at shutdown; the relay\'s tasks are taken over by another relay after `AGENTQ_RELAY_CLAIM_IDLE_MS`' },
  RELAY_READ_FAILED: { meaning: 'reading the event streams failed; retried with backoff' },
  RELAY_DISCOVERY_FAILED: { meaning: 'reading the task list failed; retried with backoff' },
  RELAY_DELIVERY_FAILED: { meaning: 'delivering a task\'s events to a sink failed; retried with backoff (logged on the first failure and every tenth)' },
  RELAY_CLAIMS_FAILED: { meaning: 'refreshing or taking over task claims failed; tried again on the next round' },
  RELAY_CLAIM_LOST: { meaning: 'another relay took tasks over from this one (it was silent too long); this one stopped following them' },
  RELAY_CLAIM_STALE: { meaning: 'this relay\'s claim on a task was not fresh when it was about to write; it waits until the claim is refreshed or lost (internal)' },
  RELAY_HANDOVER_FAILED: { meaning: 'a task could not be handed over at shutdown; another relay takes it over after the claim idle time' },
  RELAY_TASK_UNKNOWN: { meaning: 'a task in the task list has no record; it is acknowledged and skipped' },
  RELAY_TASK_ENTRY_MALFORMED: { meaning: 'a task list entry without a valid task id; acknowledged and skipped' },
  RELAY_STREAM_MISSING: { meaning: 'a running task has no event stream; acknowledged' },
  RELAY_EVENT_MALFORMED: { meaning: 'an event stream entry could not be read; skipped' },
  RELAY_SINK_PENDING: { meaning: 'a sink is still delivering a finished task in the background; the task is acknowledged once it is done (internal)' },
  RELAY_SLACK_CALL_FAILED: { meaning: 'a Slack call failed (5xx, 429 past its `Retry-After`, network); retried with backoff' },
  RELAY_SLACK_MESSAGE_REJECTED: { meaning: 'Slack refused a message\'s blocks; it is posted as plain text, or skipped when Slack refuses that too' },
  RELAY_SLACK_STATUS_GONE: { meaning: 'the task\'s status message cannot be updated any more (deleted); updates stopped, the thread goes on' },
  RELAY_SLACK_CHECK_UNAVAILABLE: { meaning: 'the thread could not be searched for a message an earlier attempt may have posted; it is posted' },
  RELAY_SLACK_BAD_REPLY: { meaning: 'Slack answered `chat.postMessage` without a message ts; retried' },
  RELAY_SLACK_NO_TOKEN: { meaning: 'there is no Slack token for the task\'s workspace (not installed, or its installation unreadable); Slack delivery stopped for the task' },
  RELAY_SLACK_AUTH_FAILED: { meaning: 'Slack refused the workspace\'s token (also after reading it again); Slack delivery stopped for the task' },
  RELAY_SLACK_CHANNEL_UNAVAILABLE: { meaning: 'the task\'s channel cannot be posted to (archived, not found, the app not in it); Slack delivery stopped for the task' },
  RELAY_SLACK_STATE_NOT_SAVED: { meaning: 'that Slack delivery stopped could not be recorded in Redis' },
  RELAY_SLACK_RELEASED: { meaning: 'a Slack delivery step ended because the relay let go of the task (internal)' },
  RELAY_SLACK_CLOSE_TIMEOUT: { meaning: 'Slack calls were still in flight at shutdown; the next owner of the task continues' },
  RELAY_CALLBACK_FAILED: { meaning: 'a completion callback was refused (not 2xx, not retryable) or every attempt failed; the last status is logged' },
  RELAY_CALLBACK_NOT_ALLOWED: { meaning: 'a completion callback was not sent: its URL is no longer allowed by `AGENTQ_CALLBACK_HOSTS`' },
  RELAY_CALLBACK_INTERRUPTED: { meaning: 'a completion callback\'s delivery was interrupted (Redis); it is tried again' },
  RELAY_CALLBACK_CLOSE_TIMEOUT: { meaning: 'completion callbacks were still in flight at shutdown' },
});

export type RelayErrorCode = keyof typeof RELAY_ERRORS;
