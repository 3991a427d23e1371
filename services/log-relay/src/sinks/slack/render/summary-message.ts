import { parseReviewReplies, type TaskRecord } from '@agentq/shared';
import type { TaskProgress } from '../task-progress.js';
import { context, header, section, type SlackBlock, type SlackMessage } from './blocks.js';
import { STATE_EMOJI, STATE_LABELS, formatCost, formatDiffStat, formatDuration, plural, shortCommit } from './format.js';
import { agentMarkdown, code, fitMessage, link, oneLine, truncate, userText } from './mrkdwn.js';
import { triggerLine } from './trigger-line.js';

const ANSWER_CHARS = 2900;
const REASON_CHARS = 1500;

export interface SummaryView {
  /** The final record, as read from Redis. */
  task: TaskRecord;
  progress: TaskProgress;
  viewerUrl: string;
}

function outcome(task: TaskRecord): string[] {
  const lines = [`*Outcome:* ${STATE_EMOJI[task.state]} ${STATE_LABELS[task.state]} · ${code(task.repo)}`];
  const why = triggerLine(task);
  if (why) lines.push(why);
  if (task.prUrl) lines.push(`*Pull request:* ${link(task.prUrl, task.prUrl)}`);
  if (task.noChanges) {
    lines.push('*No changes:* the agent left the repository as it was.');
  } else if (task.branch) {
    const at = task.commit ? ` at ${code(shortCommit(task.commit))}` : '';
    lines.push(`*Branch:* ${code(task.branch)}${at}`);
  } else if (task.commit) {
    lines.push(`*Commit:* ${code(shortCommit(task.commit))} (not pushed)`);
  }
  if (task.diffStat && !task.noChanges) lines.push(`*Changes:* ${formatDiffStat(task.diffStat)}`);
  if (task.error) lines.push(`*Reason:* ${code(task.error.code, 80)}: ${userText(task.error.message, REASON_CHARS)}`);
  return lines;
}

function numbers(view: SummaryView): string {
  const { task, progress } = view;
  const out: string[] = [];
  const turns = task.turns ?? progress.turns;
  if (turns !== undefined) out.push(plural(turns, 'turn'));
  if (progress.toolCalls > 0) out.push(plural(progress.toolCalls, 'tool call'));
  const cost = task.costUsd ?? progress.costUsd;
  if (cost !== undefined) out.push(formatCost(cost));
  const duration = task.durationMs ?? (task.startedAt && task.finishedAt ? Date.parse(task.finishedAt) - Date.parse(task.startedAt) : undefined);
  if (duration !== undefined) out.push(formatDuration(duration));
  out.push(link(view.viewerUrl, 'View transcript'));
  return out.join(' · ');
}

/** The agent's answer; for a change request, without its replies to the review's comments (they are posted on GitHub). */
function answerOf(task: TaskRecord): string | undefined {
  if (!task.summary || task.trigger?.kind !== 'changes_requested') return task.summary;
  return parseReviewReplies(task.summary, task.trigger.comments.map((c) => c.id)).summary;
}

/** The final summary reply: outcome, branch or no changes, the agent's answer, numbers, viewer link. */
export function renderSummary(view: SummaryView): SlackMessage {
  const { task } = view;
  const title = truncate(`${STATE_EMOJI[task.state]} ${STATE_LABELS[task.state]}: ${task.prompt.replace(/\s+/g, ' ').trim()}`, 150);
  const blocks: SlackBlock[] = [header(title), section(outcome(task).join('\n'))];
  const answer = answerOf(task);
  if (answer) blocks.push(section(`*Answer:*\n${agentMarkdown(answer, ANSWER_CHARS)}`));
  blocks.push(context(numbers(view)));
  const text = `${STATE_LABELS[task.state]}: ${oneLine(task.repo, 100)} — ${oneLine(task.prompt, 150)}`;
  return fitMessage({ text, blocks });
}
