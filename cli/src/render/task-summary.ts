import { TRIGGER_WORDS, triggerTag, triggerText, waitingReason, type TaskTrigger } from '@agentq/shared';
import type { TaskView } from '../api/api-client.js';
import { between, formatAgo, formatCost, formatDiffStat, formatDuration, oneLine } from './format.js';
import type { Style } from './style.js';

export type Row = [label: string, value: string];

/** The trigger of an automatic follow-up, when it is one this CLI knows how to say. */
function knownTrigger(task: TaskView): TaskTrigger | undefined {
  const trigger = task.trigger;
  return trigger && Object.hasOwn(TRIGGER_WORDS, trigger.kind) ? trigger : undefined;
}

/** Why an automatic follow-up started, and where: `fixing failing checks: build (attempt 2) · <url>`. */
export function triggerRow(task: TaskView): Row | undefined {
  const trigger = knownTrigger(task);
  return trigger && ['trigger', oneLine(`${triggerText(trigger)} · ${trigger.url}`, 300)];
}

/** A tag in front of an automatic follow-up's prompt in lists: `[ci fix 2] `. */
export function triggerPrefix(task: TaskView): string {
  const trigger = knownTrigger(task);
  return trigger ? `[${triggerTag(trigger)}] ` : '';
}

/** What a task produced: branch, commit, changes, PR, turns, cost, summary, error, viewer link. */
export function resultRows(task: TaskView, viewerUrl: string | undefined): Row[] {
  const rows: Row[] = [];
  if (task.branch) rows.push(['branch', task.branch]);
  if (task.commit) rows.push(['commit', task.commit]);
  if (task.diffStat) rows.push(['changes', formatDiffStat(task.diffStat)]);
  else if (task.noChanges) rows.push(['changes', 'none (the agent changed no files)']);
  if (task.prUrl) rows.push(['pull req', task.prUrl]);
  if (task.turns !== undefined) rows.push(['turns', String(task.turns)]);
  if (task.costUsd !== undefined) rows.push(['cost', formatCost(task.costUsd)]);
  else if (task.spentUsd !== undefined) rows.push(['cost', `${formatCost(task.spentUsd)} so far`]);
  const duration = task.durationMs ?? between(task.startedAt, task.finishedAt);
  if (duration !== undefined) rows.push(['duration', formatDuration(duration)]);
  if (task.summary) rows.push(['summary', oneLine(task.summary, 300)]);
  if (task.error) rows.push(['error', `${task.error.code}: ${task.error.message}`]);
  const viewer = viewerUrl ?? task.viewerUrl;
  if (viewer) rows.push(['viewer', viewer]);
  return rows;
}

/** Everything `agentq status` shows. */
export function statusRows(task: TaskView, now: number): Row[] {
  const when = (iso: string | undefined) => (iso ? `${iso} (${formatAgo(iso, now)})` : '');
  const rows: Row[] = [
    ['id', task.id],
    ['state', task.state + (task.cancelRequested && !task.finishedAt ? ' (cancel requested)' : '')],
    ['repo', task.repo + (task.baseRef ? ` @ ${task.baseRef}` : '')],
    ['prompt', oneLine(task.prompt ?? '', 300)],
  ];
  const trigger = triggerRow(task);
  if (trigger) rows.push(trigger);
  if (task.harness) rows.push(['harness', task.harness + (task.model ? ` (model ${task.model})` : '')]);
  if (task.priority) rows.push(['priority', task.priority]);
  rows.push(['created', when(task.createdAt)]);
  if (task.state === 'queued' && task.waiting) rows.push(['waiting', `${waitingReason(task.waiting)}, since ${when(task.waiting.since)}`]);
  if (task.startedAt) rows.push(['started', when(task.startedAt)]);
  if (task.finishedAt) rows.push(['finished', when(task.finishedAt)]);
  return [...rows, ...resultRows(task, undefined)];
}

export function formatRows(rows: Row[], style: Style, indent = ''): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${indent}${style.dim(label.padEnd(width))}  ${value}\n`).join('');
}

const HEADLINE: Record<string, { mark: string; text: string; tone: keyof Style }> = {
  succeeded: { mark: '✔', text: 'succeeded', tone: 'green' },
  failed: { mark: '✖', text: 'failed', tone: 'red' },
  canceled: { mark: '■', text: 'canceled', tone: 'yellow' },
  timed_out: { mark: '⏱', text: 'timed out', tone: 'red' },
};

/** The closing report of a followed task. */
export function formatOutcome(task: TaskView, viewerUrl: string | undefined, style: Style): string {
  const head = HEADLINE[task.state] ?? { mark: '•', text: task.state, tone: 'bold' as const };
  const total = between(task.createdAt, task.finishedAt);
  const title = `${head.mark} task ${task.id} ${head.text}${total !== undefined ? ` after ${formatDuration(total)}` : ''}`;
  return `${style[head.tone](style.bold(title))}\n${formatRows(resultRows(task, viewerUrl), style, '  ')}`;
}
