import type { DiffStat, TaskState } from '@agentq/shared';

export const STATE_LABELS: Record<TaskState, string> = {
  queued: 'Queued',
  starting: 'Starting',
  running: 'Running',
  publishing: 'Publishing',
  succeeded: 'Succeeded',
  failed: 'Failed',
  canceled: 'Canceled',
  timed_out: 'Timed out',
};

export const STATE_EMOJI: Record<TaskState, string> = {
  queued: ':hourglass_flowing_sand:',
  starting: ':arrows_counterclockwise:',
  running: ':gear:',
  publishing: ':outbox_tray:',
  succeeded: ':white_check_mark:',
  failed: ':x:',
  canceled: ':no_entry_sign:',
  timed_out: ':alarm_clock:',
};

/** `42s`, `3m 05s`, `1h 02m`. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (hours > 0) return `${hours}h ${String(minutes).padStart(2, '0')}m`;
  if (minutes > 0) return `${minutes}m ${String(seconds).padStart(2, '0')}s`;
  return `${seconds}s`;
}

/** `$0.0123` below a dollar, `$1.23` above. */
export function formatCost(usd: number): string {
  return usd < 1 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

/** `950`, `12.3k`, `1.2M`. */
export function formatCount(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(1)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

/** `2 files, +10 −3`. */
export function formatDiffStat(stat: DiffStat): string {
  return `${stat.files} file${stat.files === 1 ? '' : 's'}, +${stat.insertions} −${stat.deletions}`;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function shortCommit(sha: string): string {
  return sha.slice(0, 7);
}
