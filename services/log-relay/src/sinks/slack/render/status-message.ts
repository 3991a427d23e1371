import { isFinalState, shortId, waitingText, type TaskRecord } from '@agentq/shared';
import type { TaskProgress } from '../task-progress.js';
import { context, section, type ButtonElement, type SlackBlock, type SlackMessage } from './blocks.js';
import { STATE_EMOJI, STATE_LABELS, formatCost, formatCount, formatDuration, plural } from './format.js';
import { code, fitMessage, link, oneLine } from './mrkdwn.js';
import { triggerLine } from './trigger-line.js';

export const CANCEL_ACTION = 'agentq_cancel';
export const RETRY_ACTION = 'agentq_retry';

const PROMPT_CHARS = 300;

export interface StatusView {
  task: TaskRecord;
  progress: TaskProgress;
  /** Place among the jobs waiting to start (1 = next), while queued; the task's waiting info goes first. */
  queuePosition: number | undefined;
  viewerUrl: string;
  now: number;
}

function headline(view: StatusView): string {
  const { progress, task } = view;
  const state = progress.state;
  const parts = [`${STATE_EMOJI[state]} *${STATE_LABELS[state]}*`];
  if (state === 'queued') {
    if (progress.waiting) parts.push(waitingText(progress.waiting, (id) => code(shortId(id))));
    else if (view.queuePosition !== undefined) parts.push(`#${view.queuePosition} in the queue`);
    else if (task.after) parts.push(`waiting for the previous run ${code(shortId(task.after))}`);
  } else if (!progress.final) {
    if (progress.step) parts.push(`step: ${code(progress.step, 40)}`);
    if (progress.lastTool) parts.push(`last tool: ${code(progress.lastTool, 80)}`);
  } else if (progress.error) {
    parts.push(`${code(progress.error.code, 80)}`);
  }
  return parts.join(' · ');
}

function facts(view: StatusView): string {
  const { progress, task } = view;
  const out: string[] = [];
  if (progress.toolCalls > 0) out.push(plural(progress.toolCalls, 'tool call'));
  const final = isFinalState(progress.state);
  const start = progress.startedAt ?? (task.startedAt ? Date.parse(task.startedAt) : undefined);
  if (final && task.durationMs !== undefined) out.push(formatDuration(task.durationMs));
  else if (start !== undefined) out.push(`${formatDuration((final ? (progress.endedAt ?? view.now) : view.now) - start)}${final ? '' : ' elapsed'}`);
  else if (!final) out.push(`waiting ${formatDuration(view.now - Date.parse(task.createdAt))}`);
  const cost = task.costUsd ?? progress.costUsd;
  if (cost !== undefined) out.push(final ? formatCost(cost) : `${formatCost(cost)} so far`);
  else if (progress.tokens > 0) out.push(`${formatCount(progress.tokens)} tokens so far`);
  out.push(link(view.viewerUrl, 'View transcript'));
  out.push(`task ${code(shortId(task.id))}`);
  return out.join(' · ');
}

function button(action: string, text: string, taskId: string, style: 'primary' | 'danger'): ButtonElement {
  const out: ButtonElement = { type: 'button', action_id: action, text: { type: 'plain_text', text }, value: taskId, style };
  if (action === CANCEL_ACTION) {
    out.confirm = {
      title: { type: 'plain_text', text: 'Cancel this task?' },
      text: { type: 'mrkdwn', text: 'The agent is stopped and nothing is pushed.' },
      confirm: { type: 'plain_text', text: 'Cancel task' },
      deny: { type: 'plain_text', text: 'Keep going' },
    };
  }
  return out;
}

/** The task's status message: state, repo, prompt (and why an automatic follow-up started), progress, links and buttons. */
export function renderStatus(view: StatusView): SlackMessage {
  const { task, progress } = view;
  const why = triggerLine(task);
  const blocks: SlackBlock[] = [
    section(headline(view)),
    section(`*Repository:* ${code(task.repo)}${why ? `\n${why}` : ''}\n*Prompt:* ${oneLine(task.prompt, PROMPT_CHARS)}`),
    context(facts(view)),
  ];
  if (!progress.final) {
    blocks.push({ type: 'actions', block_id: 'agentq_task_actions', elements: [button(CANCEL_ACTION, 'Cancel', task.id, 'danger')] });
  } else if (progress.state !== 'succeeded') {
    blocks.push({ type: 'actions', block_id: 'agentq_task_actions', elements: [button(RETRY_ACTION, 'Retry', task.id, 'primary')] });
  }
  const text = `${STATE_LABELS[progress.state]}: ${oneLine(task.repo, 100)} — ${oneLine(task.prompt, 150)}`;
  return fitMessage({ text, blocks });
}
