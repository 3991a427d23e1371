import { TASK_PRIORITIES, isFinalState, waitingText, type TaskRecord } from '@agentq/shared';
import { OPTION_NAMES } from './command-text.js';

/** An ephemeral answer: only the person who asked sees it. */
export interface Ephemeral {
  response_type: 'ephemeral';
  text: string;
}

export function ephemeral(text: string): Ephemeral {
  return { response_type: 'ephemeral', text };
}

/** Text shown as is in Slack mrkdwn: `&`, `<` and `>` escaped. */
export function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function excerpt(text: string, max = 80): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return escapeText(line.length > max ? `${line.slice(0, max - 1)}…` : line);
}

const STATE_EMOJI: Record<TaskRecord['state'], string> = {
  queued: ':hourglass_flowing_sand:',
  starting: ':arrows_counterclockwise:',
  running: ':arrows_counterclockwise:',
  publishing: ':arrow_up:',
  succeeded: ':white_check_mark:',
  failed: ':x:',
  canceled: ':no_entry_sign:',
  timed_out: ':alarm_clock:',
};

export const UNAVAILABLE_TEXT = ':warning: agentq is unavailable, try again in a moment.';

export function helpText(command: string): string {
  return [
    `*${command} owner/repo what to do* — queue a task; its status appears in this channel.`,
    `Options (after the repository or at the end): ${OPTION_NAMES.map((n) => `\`--${n}=…\``).join(' ')} (or \`--name value\`); \`--priority\` is ${TASK_PRIORITIES.join(', ')} (default normal).`,
    `*${command} status [task id]* — a task, or your latest tasks.`,
    `*${command} list [all]* — recent tasks of this channel (or of the workspace).`,
    `*${command} cancel <task id>* — cancel a task you asked for.`,
    '*@agentq owner/repo what to do* in a channel starts a task in a thread; mention @agentq in that thread to follow up.',
  ].join('\n');
}

export function mentionUsageText(command: string): string {
  return `To start a task, mention me with a repository and what to do: \`@agentq owner/repo add a CONTRIBUTING.md\`. In a task's thread, \`@agentq\` with a message continues that task. See \`${command} help\`.`;
}

export function queuedText(task: { id: string; repo: string }, viewer: string, replayed: boolean): string {
  const head = replayed ? `Task \`${task.id}\` was already queued` : `:white_check_mark: Queued task \`${task.id}\``;
  return `${head} on \`${escapeText(task.repo)}\`. Follow it live: <${viewer}|viewer>. Its status appears in this channel.`;
}

export function retriedText(original: string, task: { id: string }, viewer: string): string {
  return `:repeat: Retrying \`${original}\` as task \`${task.id}\` (<${viewer}|viewer>).`;
}

export function taskLine(task: TaskRecord, viewer: string): string {
  const parts = [`${STATE_EMOJI[task.state]} \`${task.id}\` *${task.state}*`, `\`${escapeText(task.repo)}\``, excerpt(task.prompt)];
  if (task.prUrl) parts.push(`<${task.prUrl}|pull request>`);
  else if (task.branch && isFinalState(task.state)) parts.push(`branch \`${escapeText(task.branch)}\``);
  parts.push(`<${viewer}|viewer>`);
  return parts.join(' — ');
}

export function taskDetails(task: TaskRecord, viewer: string): string {
  const lines = [taskLine(task, viewer)];
  const facts: string[] = [];
  if (task.harness) facts.push(`harness ${task.harness}`);
  if (task.model) facts.push(`model ${escapeText(task.model)}`);
  if (task.priority && task.priority !== 'normal') facts.push(`${task.priority} priority`);
  if (task.turns !== undefined) facts.push(`${task.turns} turns`);
  if (task.costUsd !== undefined) facts.push(`$${task.costUsd.toFixed(2)}`);
  if (task.durationMs !== undefined) facts.push(`${Math.round(task.durationMs / 1000)} s`);
  if (task.slack?.userId) facts.push(`asked by <@${task.slack.userId}>`);
  if (facts.length > 0) lines.push(facts.join(' · '));
  if (task.state === 'queued' && task.waiting) lines.push(`:hourglass: ${escapeText(waitingText(task.waiting, (id) => `\`${id}\``))}`);
  if (task.error) lines.push(`Error: ${escapeText(task.error.message)}`);
  return lines.join('\n');
}
