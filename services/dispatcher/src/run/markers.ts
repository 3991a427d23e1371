import type { DiffStat } from '@agentq/shared';

/**
 * A progress line of the run script: the ASCII record separator (RS, `\x1e`) then `{"agentq": {...}}`.
 * The script deletes every RS byte from everything else it prints (git, setup commands, the agent),
 * so only its own lines can start with one.
 */
export type RunMarker =
  | { type: 'step'; step: RunStep }
  /** `defaultBranch`: the branch the repository's HEAD names. */
  | { type: 'clone'; ok: true; baseCommit: string; defaultBranch?: string }
  | { type: 'clone'; ok: false; reason: CloneFailure }
  /** `continued`: the branch existed and the run goes on from its head. */
  | { type: 'branch'; ok: boolean; branch?: string; continued?: boolean }
  | { type: 'commit'; ok: true; commit: string; diffStat: DiffStat }
  | { type: 'commit'; ok: false }
  | { type: 'no_changes' }
  | { type: 'push'; ok: boolean; branch?: string; commit?: string }
  | { type: 'agent_exit'; code: number }
  /** A setup command ended: `index` is 0-based, of `count` commands. */
  | { type: 'setup_exit'; index: number; count: number; code: number };

/** The steps of the run script, in order (`setup` only when the repository has setup commands). */
export type RunStep = 'clone' | 'setup' | 'agent' | 'commit' | 'push';

/** Why the clone step failed: the clone itself, the base ref, or the branch to continue. */
export type CloneFailure = 'clone' | 'base_ref' | 'branch';

type Json = Record<string, unknown>;

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
const BRANCH = /^[A-Za-z0-9._/-]{1,200}$/;
const STEPS = new Set<string>(['clone', 'setup', 'agent', 'commit', 'push'] satisfies RunStep[]);

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const sha = (v: unknown): string | undefined => (typeof v === 'string' && SHA.test(v) ? v : undefined);
const branch = (v: unknown): string | undefined => (typeof v === 'string' && BRANCH.test(v) ? v : undefined);

function fromBody(m: Json): RunMarker | undefined {
  if (typeof m.step === 'string') return STEPS.has(m.step) ? { type: 'step', step: m.step as RunStep } : undefined;
  if (m.agent === 'exit') return isCount(m.code) ? { type: 'agent_exit', code: m.code } : undefined;
  if (m.setup === 'exit') {
    if (!isCount(m.index) || !isCount(m.count) || !isCount(m.code) || m.index >= m.count) return undefined;
    return { type: 'setup_exit', index: m.index, count: m.count, code: m.code };
  }
  if (typeof m.ok !== 'boolean') return undefined;
  switch (m.git) {
    case 'clone': {
      if (!m.ok) return { type: 'clone', ok: false, reason: m.reason === 'base_ref' || m.reason === 'branch' ? m.reason : 'clone' };
      const baseCommit = sha(m.baseCommit);
      if (!baseCommit) return undefined;
      const defaultBranch = branch(m.defaultBranch);
      return defaultBranch ? { type: 'clone', ok: true, baseCommit, defaultBranch } : { type: 'clone', ok: true, baseCommit };
    }
    case 'branch':
      return m.continued === true
        ? { type: 'branch', ok: m.ok, branch: branch(m.branch), continued: true }
        : { type: 'branch', ok: m.ok, branch: branch(m.branch) };
    case 'commit': {
      if (!m.ok) return { type: 'commit', ok: false };
      const commit = sha(m.commit);
      const d = isObject(m.diffStat) ? m.diffStat : undefined;
      if (!commit || !d || !isCount(d.files) || !isCount(d.insertions) || !isCount(d.deletions)) return undefined;
      return { type: 'commit', ok: true, commit, diffStat: { files: d.files, insertions: d.insertions, deletions: d.deletions } };
    }
    case 'no_changes':
      return { type: 'no_changes' };
    case 'push':
      return { type: 'push', ok: m.ok, branch: branch(m.branch), commit: sha(m.commit) };
    default:
      return undefined;
  }
}

/** The first character of every marker line. */
export const MARKER_START = '\x1e';

/**
 * The marker a line holds, if it is one: the line must start with RS immediately followed by a JSON
 * object with a top-level `agentq` object of a known shape. Anything else (a line without the RS, a
 * marker quoted inside the agent's JSON, a malformed marker) is not a marker.
 */
export function parseMarker(line: string): RunMarker | undefined {
  if (!line.startsWith(`${MARKER_START}{`) || !line.includes('"agentq"')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line.slice(MARKER_START.length));
  } catch {
    return undefined;
  }
  if (!isObject(value) || !Object.hasOwn(value, 'agentq') || !isObject(value.agentq)) return undefined;
  return fromBody(value.agentq);
}
