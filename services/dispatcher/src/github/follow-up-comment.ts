import { triggerText, type TaskRecord, type TaskTrigger } from '@agentq/shared';
import type { Outcome } from '../run/outcome.js';
import { MAX_SUMMARY, diffStatLine } from './pull-request.js';

/** How much of a failed run's reason a comment carries. */
const MAX_REASON = 1000;

/** What a follow-up's comment on its pull request reports. */
export interface FollowUpReport {
  task: TaskRecord;
  trigger: TaskTrigger;
  outcome: Outcome;
  /** The agent's final message, without the reply lines of a change-request follow-up. */
  summary: string | undefined;
  /** Inline comments answered (change requests). */
  replied: number;
  viewerUrl: string;
}

/** Text made inert in a Markdown link's label. */
function label(text: string): string {
  return text.replace(/[\\[\]`*_<>]/g, (c) => `\\${c}`).replace(/\s+/g, ' ');
}

/** A Markdown link when `url` is a web page (http or https); the label alone otherwise. */
function link(text: string, url: string): string {
  let href: string;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return label(text);
    href = parsed.href;
  } catch {
    return label(text);
  }
  return `[${label(text)}](${href.replace(/[()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)})`;
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The line under the heading: what GitHub said that started the run. */
function cause(trigger: TaskTrigger, replied: number): string {
  if (trigger.kind === 'ci_failure') {
    const checks = trigger.checks.map((c) => `${link(c.name, c.url)} (${label(c.conclusion)})`);
    const on = `\`${trigger.headSha.slice(0, 7)}\``;
    return checks.length > 0 ? `Failing checks on ${on}: ${checks.join(', ')}` : `${link('Failing checks', trigger.url)} on ${on}`;
  }
  const total = trigger.comments.length;
  const answered = total > 0 ? ` · replied to ${replied} of ${total} inline comment${total === 1 ? '' : 's'}` : '';
  return `${link('The review', trigger.url)} of @${label(trigger.reviewer)}${answered}`;
}

/** What the run left on the branch. */
function result(report: FollowUpReport): string {
  const { outcome, task } = report;
  const update = outcome.update;
  if (outcome.state === 'succeeded') {
    if (update.noChanges || !update.commit) return '**Result:** no changes: nothing was pushed';
    return `**Result:** pushed \`${update.commit.slice(0, 7)}\` to \`${update.branch ?? task.branch ?? '?'}\` (${diffStatLine(update.diffStat)})`;
  }
  const error = update.error;
  const why = error ? `: \`${error.code}\` ${cut(error.message.replace(/\s+/g, ' '), MAX_REASON)}` : '';
  return `**Result:** ${outcome.state === 'timed_out' ? 'timed out' : outcome.state}${why}; nothing new on the branch`;
}

/**
 * The one comment an automatic follow-up posts on its pull request once its run ended: what
 * caused it (with links and the attempt), the agent's summary, the commit it pushed or that
 * nothing changed, the cost and the transcript. Not yet redacted.
 */
export function followUpComment(report: FollowUpReport): string {
  const { trigger, outcome } = report;
  const summary = report.summary?.trim() || '_The agent left no summary._';
  const cost = outcome.update.costUsd === undefined ? 'unknown' : `$${outcome.update.costUsd.toFixed(2)}`;
  return [
    `**agentq** · ${label(triggerText(trigger))}`,
    '',
    cause(trigger, report.replied),
    '',
    cut(summary, MAX_SUMMARY),
    '',
    '---',
    '',
    result(report),
    `**Cost:** ${cost} · **Turns:** ${outcome.update.turns ?? 'unknown'}`,
    `**Transcript:** [task ${report.task.id}](${report.viewerUrl})`,
  ].join('\n');
}

/** An answer to one inline comment of the review, with where it was done. */
export function reviewReply(answer: string, task: TaskRecord, outcome: Outcome, viewerUrl: string): string {
  const commit = outcome.update.commit && !outcome.update.noChanges ? `\`${outcome.update.commit.slice(0, 7)}\` · ` : '';
  return `${answer}\n\n<sub>agentq · ${commit}[task ${task.id}](${viewerUrl})</sub>`;
}
