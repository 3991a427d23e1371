import { triggerLinkText, triggerText, type TaskRecord } from '@agentq/shared';
import { link, userText } from './mrkdwn.js';

const TRIGGER_CHARS = 400;

/**
 * Why an automatic follow-up of a pull request started, with a link to the check or review:
 * `*Why:* fixing failing checks: build (attempt 2) · <url|the failing check>`. Undefined for other tasks.
 */
export function triggerLine(task: TaskRecord): string | undefined {
  const trigger = task.trigger;
  if (!trigger) return undefined;
  const why = `*Why:* ${userText(triggerText(trigger), TRIGGER_CHARS)}`;
  return /^https?:\/\//i.test(trigger.url) ? `${why} · ${link(trigger.url, triggerLinkText(trigger))}` : why;
}
