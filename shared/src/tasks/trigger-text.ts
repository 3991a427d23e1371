import type { TaskTrigger } from './task-record.js';

/** The most check names `triggerText` lists before it says how many more failed. */
const NAMED_CHECKS = 5;

/** The names of the failing checks: `build, lint and 3 more`. */
function checkNames(trigger: Extract<TaskTrigger, { kind: 'ci_failure' }>): string {
  const names = trigger.checks.map((c) => c.name);
  if (names.length === 0) return 'unnamed checks';
  const shown = names.slice(0, NAMED_CHECKS).join(', ');
  return names.length > NAMED_CHECKS ? `${shown} and ${names.length - NAMED_CHECKS} more` : shown;
}

/**
 * Why an automatic follow-up started, in a few words (plain text: escape it for markup):
 * `fixing failing checks: build, lint (attempt 2)`, `answering the review of @alice (attempt 1)`.
 */
export function triggerText(trigger: TaskTrigger): string {
  const why = trigger.kind === 'ci_failure' ? `fixing failing checks: ${checkNames(trigger)}` : `answering the review of @${trigger.reviewer}`;
  return `${why} (attempt ${trigger.attempt})`;
}

/** A short tag for lists: `ci fix 2`, `review 1`. */
export function triggerTag(trigger: TaskTrigger): string {
  return `${trigger.kind === 'ci_failure' ? 'ci fix' : 'review'} ${trigger.attempt}`;
}

/** What the trigger's `url` points at: `the failing check`, `the review`. */
export function triggerLinkText(trigger: TaskTrigger): string {
  return trigger.kind === 'ci_failure' ? 'the failing check' : 'the review';
}
