import type { TaskTrigger } from './task-record.js';

/** The words for each kind of trigger (the task list page uses them too). */
export const TRIGGER_WORDS: Record<TaskTrigger['kind'], { why: string; link: string; tag: string }> = {
  ci_failure: { why: 'fixing failing checks', link: 'the failing check', tag: 'ci fix' },
  changes_requested: { why: 'answering the review', link: 'the review', tag: 'review' },
};

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
  const { why } = TRIGGER_WORDS[trigger.kind];
  const detail = trigger.kind === 'ci_failure' ? `: ${checkNames(trigger)}` : ` of @${trigger.reviewer}`;
  return `${why}${detail} (attempt ${trigger.attempt})`;
}

/** A short tag for lists: `ci fix 2`, `review 1`. */
export function triggerTag(trigger: TaskTrigger): string {
  return `${TRIGGER_WORDS[trigger.kind].tag} ${trigger.attempt}`;
}

/** What the trigger's `url` points at: `the failing check`, `the review`. */
export function triggerLinkText(trigger: TaskTrigger): string {
  return TRIGGER_WORDS[trigger.kind].link;
}
