import { waitingText, type AgentEvent } from '@agentq/shared';
import { formatCost, formatDiffStat, formatDuration, shortSha } from './format.js';
import { shortToolInput } from './tool-input.js';

export type Tone = 'normal' | 'dim' | 'good' | 'bad' | 'accent';

export interface EventLine {
  label: string;
  text: string;
  tone: Tone;
}

export const STEP_TEXT: Record<string, string> = {
  sandbox: 'starting the sandbox',
  clone: 'cloning the repository',
  setup: 'running the setup commands',
  agent: 'running the agent',
  commit: 'committing the changes',
  push: 'pushing the branch',
  publish: 'publishing',
};

/**
 * One line of progress for an event, or undefined for events not worth a line (usage counters,
 * raw harness output). `cwd` is the agent's working directory, to shorten file paths.
 */
export function renderEvent(event: AgentEvent, cwd: string | undefined): EventLine | undefined {
  switch (event.kind) {
    case 'task.state': {
      const error = event.error ? `: ${event.error.code}: ${event.error.message}` : '';
      const tone: Tone = event.state === 'succeeded' ? 'good' : ['failed', 'canceled', 'timed_out'].includes(event.state) ? 'bad' : 'accent';
      return { label: 'state', text: `${event.state}${error}`, tone };
    }
    case 'task.waiting':
      return { label: 'wait', text: waitingText(event), tone: 'dim' };
    case 'step':
      return { label: 'step', text: STEP_TEXT[event.step] ?? event.step, tone: 'normal' };
    case 'agent.init': {
      const who = event.harness ?? 'agent';
      return { label: 'agent', text: `${who} started${event.model ? ` (model ${event.model})` : ''}`, tone: 'dim' };
    }
    case 'agent.tool_call': {
      const input = shortToolInput(event.input, cwd);
      return { label: 'tool', text: input ? `${event.name} ${input}` : event.name, tone: 'accent' };
    }
    case 'agent.tool_result':
      if (event.ok) return undefined;
      return { label: 'tool', text: `error: ${event.output.trim().split('\n')[0] ?? ''}`, tone: 'bad' };
    case 'agent.message':
      return event.text.trim() === '' ? undefined : { label: 'says', text: event.text, tone: 'normal' };
    case 'agent.result': {
      const parts = [event.success ? 'agent finished' : 'agent failed'];
      if (event.turns !== undefined) parts.push(`${event.turns} turn${event.turns === 1 ? '' : 's'}`);
      if (event.costUsd !== undefined) parts.push(formatCost(event.costUsd));
      if (event.durationMs !== undefined) parts.push(formatDuration(event.durationMs));
      return { label: 'result', text: parts.join(' · '), tone: event.success ? 'good' : 'bad' };
    }
    case 'log':
      return event.text.trim() === '' ? undefined : { label: 'log', text: event.text, tone: 'dim' };
    case 'git':
      return renderGit(event);
    case 'pr.opened':
      return { label: 'pr', text: event.url, tone: 'good' };
    default:
      return undefined;
  }
}

function renderGit(event: Extract<AgentEvent, { kind: 'git' }>): EventLine {
  if (!event.ok) return { label: 'git', text: `${event.action} failed${event.message ? `: ${event.message}` : ''}`, tone: 'bad' };
  switch (event.action) {
    case 'clone':
      return { label: 'git', text: `cloned${event.baseCommit ? ` at ${shortSha(event.baseCommit)}` : ''}`, tone: 'dim' };
    case 'branch':
      return { label: 'git', text: `branch ${event.branch ?? ''}`.trim(), tone: 'dim' };
    case 'commit': {
      const stat = event.diffStat ? ` (${formatDiffStat(event.diffStat)})` : '';
      return { label: 'git', text: `committed ${event.commit ? shortSha(event.commit) : ''}${stat}`, tone: 'normal' };
    }
    case 'push':
      return { label: 'git', text: `pushed ${event.branch ?? ''}`.trim(), tone: 'normal' };
    case 'no_changes':
      return { label: 'git', text: 'no changes to commit', tone: 'dim' };
  }
}
