import { RegistryError, defineErrors, type RegistryErrorOptions } from '@agentq/shared';

/**
 * Every code the log relay uses. They appear in its logs (`code` field) and in the Slack
 * delivery state (`stopped`); operators alert and search on them, never on messages. Codes marked
 * internal are carried by errors the relay handles itself and are not logged as failures.
 */
export const RELAY_ERRORS = defineErrors({
  RELAY_REDIS_ERROR: { meaning: 'a Redis connection reported an error; the connection retries by itself' },
  RELAY_REDIS_UNREACHABLE: { meaning: 'Redis could not be reached at shutdown; the relay\'s tasks are taken over by another relay after `AGENTQ_RELAY_CLAIM_IDLE_MS`' },
  RELAY_READ_FAILED: { meaning: 'reading the event streams failed; retried with backoff (0.2 s doubling to 5 s)' },
  RELAY_DISCOVERY_FAILED: { meaning: 'reading the task list failed; retried with backoff (0.2 s doubling to 5 s)' },
  RELAY_DELIVERY_FAILED: { meaning: 'delivering a task\'s events to a sink failed; retried with backoff, 0.4 s doubling to 10 s (logged on the first failure and every tenth)' },
  RELAY_ARCHIVE_UNAVAILABLE: { meaning: 'the transcript archive (`AGENTQ_ARCHIVE_URL`) failed a write or check: unreachable, refused the credentials, no such bucket; the events stay in Redis unacknowledged and are delivered again with backoff, `/readyz` answers 503 and `agentq_relay_archive_up` is 0 until it works again (logged once per outage)' },
  RELAY_CLAIMS_FAILED: { meaning: 'refreshing or taking over task claims failed; tried again on the next round' },
  RELAY_CLAIM_LOST: { meaning: 'another relay took tasks over from this one (it was silent too long); this one stopped following them' },
  RELAY_CLAIM_STALE: { meaning: 'this relay\'s claim on a task was not fresh when it was about to write; it waits until the claim is refreshed or lost (internal)' },
  RELAY_HANDOVER_FAILED: { meaning: 'a task could not be handed over at shutdown; another relay takes it over after the claim idle time' },
  RELAY_TASK_UNKNOWN: { meaning: 'a task has no record: a task list entry is acknowledged and skipped, a finished task gets no final record, a completion callback fails without a retry' },
  RELAY_TASK_ENTRY_MALFORMED: { meaning: 'a task list entry without a valid task id; acknowledged and skipped' },
  RELAY_STREAM_MISSING: { meaning: 'a running task has no event stream; acknowledged' },
  RELAY_EVENT_MALFORMED: { meaning: 'an event stream entry could not be read; skipped' },
  RELAY_SINK_PENDING: { meaning: 'a sink (Slack) is still delivering a finished task in the background; the task is acknowledged once it is done (internal)' },
  RELAY_SLACK_CALL_FAILED: { meaning: 'a Slack call failed (5xx, 429 past its `Retry-After`, network); retried with backoff, 1 s doubling to 30 s (logged on the first failure and every tenth)' },
  RELAY_SLACK_MESSAGE_REJECTED: { meaning: 'Slack refused a message\'s blocks; it is posted as plain text, or skipped when Slack refuses that too; a status message refused with no thread to post to stops Slack delivery for the task' },
  RELAY_SLACK_STATUS_GONE: { meaning: 'the task\'s status message cannot be updated any more (deleted); updates stopped, the thread goes on' },
  RELAY_SLACK_CHECK_UNAVAILABLE: { meaning: 'the thread could not be searched for a message an earlier attempt may have posted; it is posted' },
  RELAY_SLACK_BAD_REPLY: { meaning: 'Slack answered `chat.postMessage` without a message ts; retried' },
  RELAY_SLACK_NO_TOKEN: { meaning: 'there is no Slack token for the task\'s workspace (not installed, or its installation unreadable); Slack delivery stopped for the task' },
  RELAY_SLACK_AUTH_FAILED: { meaning: 'Slack refused the workspace\'s token (also after reading it again); Slack delivery stopped for the task' },
  RELAY_SLACK_CHANNEL_UNAVAILABLE: { meaning: 'the task\'s channel cannot be posted to (archived, not found, the app not in it); Slack delivery stopped for the task' },
  RELAY_SLACK_STATE_NOT_SAVED: { meaning: 'that Slack delivery stopped could not be recorded in Redis' },
  RELAY_SLACK_RELEASED: { meaning: 'a Slack delivery step ended because the relay let go of the task (internal)' },
  RELAY_SLACK_CLOSE_TIMEOUT: { meaning: 'Slack calls were still in flight at shutdown; the next owner of the task continues' },
  RELAY_CALLBACK_RETRY: { meaning: 'a completion callback attempt got no answer, a 408, a 429 or a 5xx; its job is retried with backoff (5 s doubling to 5 min, or the receiver\'s `Retry-After` up to 5 min)' },
  RELAY_CALLBACK_FAILED: { meaning: 'a completion callback failed for good: refused (a 3xx, or a 4xx other than 408 and 429), or every attempt failed; the last status is logged' },
  RELAY_CALLBACK_NOT_ALLOWED: { meaning: 'a completion callback was not sent: its URL is not allowed (any more) by `AGENTQ_CALLBACK_HOSTS` (host or port), or its host is a private, link-local or loopback IP address; `reason` is logged; it fails without a retry' },
  RELAY_CALLBACK_ADDRESS_REFUSED: { meaning: 'a completion callback was not sent: the address its host resolved to when connecting (or its IP address) is private (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10), link-local (169.254/16, fe80::/10), unspecified, multicast or reserved, or loopback while the URL\'s host is not `localhost`, `127.0.0.1` or `::1`; `reason` and `address` are logged; it fails without a retry' },
  RELAY_CALLBACK_JOB_INVALID: { meaning: 'a job of the `callbacks` queue whose data is not `{taskId}`; it fails without a retry' },
  RELAY_CALLBACK_QUEUE_ERROR: { meaning: 'the `callbacks` queue or its worker reported an error (Redis); BullMQ retries by itself' },
  RELAY_CALLBACK_CLOSE_TIMEOUT: { meaning: 'completion callbacks were still in flight at the shutdown deadline; they were aborted and their jobs handed back without counting the attempt, for any relay to send again' },
});

export type RelayErrorCode = keyof typeof RELAY_ERRORS;

/** An error of the relay, with a code of its registry. */
export class RelayError extends RegistryError<RelayErrorCode> {
  constructor(code: RelayErrorCode, message: string, options: RegistryErrorOptions = {}) {
    super(RELAY_ERRORS, code, message, options);
  }
}

/** This relay's claim on the task is not fresh: it may not write for the task now. */
export class ClaimStaleError extends RelayError {
  constructor(taskId: string) {
    super('RELAY_CLAIM_STALE', `claim on task ${taskId} is not fresh`, { details: { taskId } });
  }
}

/** A sink's `finish` while it is still delivering in the background: not a failure. */
export class SinkPendingError extends RelayError {
  constructor(sink: string, taskId: string) {
    super('RELAY_SINK_PENDING', `sink ${sink} is still delivering task ${taskId}`, { details: { sink, taskId } });
  }
}

/** Thrown inside a Slack delivery step once the relay let go of the task: the step ends quietly. */
export class DeliveryReleasedError extends RelayError {
  constructor(taskId: string) {
    super('RELAY_SLACK_RELEASED', `slack delivery of task ${taskId} released`, { details: { taskId } });
  }
}

/** There is no usable Slack token for the workspace: retrying cannot help. */
export class NoSlackTokenError extends RelayError {
  constructor(message: string, options: { resolverCode: string; cause: unknown }) {
    super('RELAY_SLACK_NO_TOKEN', message, { cause: options.cause, details: { resolverCode: options.resolverCode } });
  }
}

/**
 * A completion callback attempt that is worth another one (no answer, 408, 429, 5xx): its job is
 * retried after `retryInMs`, which the callbacks worker's backoff strategy reads.
 */
export class CallbackNotDeliveredError extends RelayError {
  constructor(
    /** The answer's status, or what kept it from coming (`network_error`, `timeout`). */
    readonly answer: string,
    readonly retryInMs: number,
  ) {
    super('RELAY_CALLBACK_RETRY', `completion callback not delivered (${answer})`, { details: { status: answer, retryInMs } });
  }
}
