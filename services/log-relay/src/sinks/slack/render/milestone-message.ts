import type { Milestone } from '../task-progress.js';
import { section, type SlackMessage } from './blocks.js';
import { STATE_EMOJI, STATE_LABELS, formatDiffStat, shortCommit } from './format.js';
import { code, fitMessage, link, userText } from './mrkdwn.js';

const REASON_CHARS = 1500;

function line(milestone: Milestone, repo: string): string {
  switch (milestone.kind) {
    case 'started':
      return `:arrow_forward: *Started* — the agent is working on ${code(repo)}.`;
    case 'pushed': {
      const where = milestone.branch ? code(milestone.branch) : 'the branch';
      const at = milestone.commit ? ` at ${code(shortCommit(milestone.commit))}` : '';
      const stat = milestone.diffStat ? ` (${formatDiffStat(milestone.diffStat)})` : '';
      return `:arrow_up: *Pushed* ${where}${at}${stat}.`;
    }
    case 'pr':
      return `:twisted_rightwards_arrows: *Pull request opened:* ${link(milestone.url, milestone.number !== undefined ? `#${milestone.number}` : milestone.url)}`;
    case 'ended': {
      const head = `${STATE_EMOJI[milestone.state]} *${STATE_LABELS[milestone.state]}*`;
      if (!milestone.error) return head;
      return `${head} — ${code(milestone.error.code, 80)}: ${userText(milestone.error.message, REASON_CHARS)}`;
    }
  }
}

/** A milestone reply in the task's thread. */
export function renderMilestone(milestone: Milestone, repo: string): SlackMessage {
  const text = line(milestone, repo);
  return fitMessage({ text, blocks: [section(text)] });
}
