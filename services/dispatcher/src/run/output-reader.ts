import type { AgentEventInput, DiffStat } from '@agentq/shared';
import type { OutputParser } from '../harnesses/harness.js';
import type { OutputLine } from '../providers/sandbox-provider.js';
import type { RuntimeSecrets } from '../runtime-secrets.js';
import { parseMarker, type CloneFailure, type RunMarker, type RunStep } from './markers.js';

export interface AgentResultFacts {
  success: boolean;
  turns?: number;
  costUsd?: number;
  durationMs?: number;
  summary?: string;
  sessionId?: string;
}

/** What the output of a run said so far. */
export interface RunFacts {
  lastStep?: RunStep;
  baseCommit?: string;
  /** The repository's default branch, as the clone saw it. */
  defaultBranch?: string;
  cloneFailure?: CloneFailure;
  branch?: string;
  /** The run continues a branch that existed (a follow-up). */
  branchContinued?: boolean;
  branchFailed?: boolean;
  /** The setup command that failed (0-based `index` of `count`), and its exit code. */
  setupFailure?: { index: number; count: number; code: number };
  sessionId?: string;
  agentResult?: AgentResultFacts;
  /** The highest cost (USD) the agent reported so far: its result's, or a running total of its usage. */
  costUsd?: number;
  agentExitCode?: number;
  commit?: { sha: string; diffStat: DiffStat };
  commitFailed?: boolean;
  noChanges?: boolean;
  push?: { ok: boolean; commit?: string };
  /** The last plain-text lines of output (git errors, crashes), newest last. */
  textTail: string[];
}

/** Task states the output moves a task through before its final state. */
export type RunPhase = 'starting' | 'running' | 'publishing';

const TAIL_LINES = 8;

const CLONE_FAILURE_MESSAGE: Record<CloneFailure, string> = {
  clone: 'clone failed',
  base_ref: 'base ref not found',
  branch: 'branch not found',
};

function markerEvents(marker: RunMarker): AgentEventInput[] {
  switch (marker.type) {
    case 'step':
      return [{ kind: 'step', step: marker.step }];
    case 'clone':
      return marker.ok
        ? [{ kind: 'git', action: 'clone', ok: true, baseCommit: marker.baseCommit }]
        : [{ kind: 'git', action: 'clone', ok: false, message: CLONE_FAILURE_MESSAGE[marker.reason] }];
    case 'branch':
      return marker.continued
        ? [{ kind: 'git', action: 'branch', ok: marker.ok, branch: marker.branch, message: 'continues the existing branch' }]
        : [{ kind: 'git', action: 'branch', ok: marker.ok, branch: marker.branch }];
    case 'commit':
      return marker.ok
        ? [{ kind: 'git', action: 'commit', ok: true, commit: marker.commit, diffStat: marker.diffStat }]
        : [{ kind: 'git', action: 'commit', ok: false, message: 'commit failed' }];
    case 'no_changes':
      return [{ kind: 'git', action: 'no_changes', ok: true }];
    case 'push':
      return [{ kind: 'git', action: 'push', ok: marker.ok, branch: marker.branch, commit: marker.commit, message: marker.ok ? undefined : 'push failed' }];
    case 'agent_exit':
      return [{ kind: 'log', stream: 'system', text: `agent exited with code ${marker.code}` }];
    case 'setup_exit':
      return [{ kind: 'log', stream: 'system', text: `setup command ${marker.index + 1} of ${marker.count} exited with code ${marker.code}` }];
  }
}

/**
 * Turns the sandbox output, line by line, into events: run-script markers become `step`/`git`
 * events, everything else goes to the harness's parser. Every line is redacted before it is looked
 * at, and every event carries the number of the line it came from. A line whose end could be the
 * first piece of a secret is held until the next line shows whether it is (both pieces are then
 * redacted), so `read` may return the events of the line before too; `finish` gives those of a line
 * still held when the output ends. Deterministic: reading the same lines again gives the same
 * events and facts (which is how a re-attached dispatcher catches up).
 */
export class OutputReader {
  readonly facts: RunFacts = { textTail: [] };
  private held: OutputLine | undefined;

  constructor(
    private readonly parser: OutputParser,
    private readonly secrets: Pick<RuntimeSecrets, 'redact' | 'continues' | 'across'>,
    private readonly harness: string,
  ) {}

  read(output: OutputLine): AgentEventInput[] {
    let text = this.secrets.redact(output.text);
    const events: AgentEventInput[] = [];
    if (this.held) {
      const [before, after] = this.secrets.across(this.held.text, text);
      events.push(...this.readRedacted({ line: this.held.line, text: before }));
      this.held = undefined;
      text = after;
    }
    if (this.secrets.continues(text)) this.held = { line: output.line, text };
    else events.push(...this.readRedacted({ line: output.line, text }));
    return events;
  }

  /** The events of a line still held when the output ended. */
  finish(): AgentEventInput[] {
    const held = this.held;
    this.held = undefined;
    return held ? this.readRedacted(held) : [];
  }

  private readRedacted({ line, text }: OutputLine): AgentEventInput[] {
    const marker = parseMarker(text);
    const events = marker ? this.onMarker(marker) : this.onHarnessLine(text);
    return events.map((e) => ({ ...e, line }));
  }

  /** The state the task should be in given what the output said. */
  phase(): RunPhase {
    switch (this.facts.lastStep) {
      case 'agent':
        return 'running';
      case 'commit':
      case 'push':
        return 'publishing';
      default:
        return 'starting';
    }
  }

  private onMarker(marker: RunMarker): AgentEventInput[] {
    const f = this.facts;
    switch (marker.type) {
      case 'step':
        f.lastStep = marker.step;
        break;
      case 'clone':
        if (marker.ok) {
          f.baseCommit = marker.baseCommit;
          if (marker.defaultBranch) f.defaultBranch = marker.defaultBranch;
        }
        else f.cloneFailure = marker.reason;
        break;
      case 'branch':
        if (marker.ok && marker.branch) {
          f.branch = marker.branch;
          if (marker.continued) f.branchContinued = true;
        } else f.branchFailed = true;
        break;
      case 'commit':
        if (marker.ok) f.commit = { sha: marker.commit, diffStat: marker.diffStat };
        else f.commitFailed = true;
        break;
      case 'no_changes':
        f.noChanges = true;
        break;
      case 'push':
        f.push = { ok: marker.ok, commit: marker.commit };
        break;
      case 'agent_exit':
        f.agentExitCode = marker.code;
        break;
      case 'setup_exit':
        if (marker.code !== 0) f.setupFailure = { index: marker.index, count: marker.count, code: marker.code };
        break;
    }
    return markerEvents(marker);
  }

  private onHarnessLine(text: string): AgentEventInput[] {
    const events = this.parser.parseLine(text);
    for (const event of events) {
      if (event.kind === 'agent.init') {
        if (event.harness === undefined) event.harness = this.harness;
        if (event.sessionId) this.facts.sessionId = event.sessionId;
      } else if (event.kind === 'agent.usage') {
        this.noteCost(event.costUsd);
      } else if (event.kind === 'agent.result') {
        this.noteCost(event.costUsd);
        this.facts.agentResult = {
          success: event.success,
          turns: event.turns,
          costUsd: event.costUsd,
          durationMs: event.durationMs,
          summary: event.summary,
          sessionId: event.sessionId,
        };
        if (event.sessionId) this.facts.sessionId = event.sessionId;
      } else if (event.kind === 'log' && event.text.trim().length > 0) {
        this.facts.textTail.push(event.text.length > 500 ? `${event.text.slice(0, 500)}…` : event.text);
        if (this.facts.textTail.length > TAIL_LINES) this.facts.textTail.shift();
      }
    }
    return events;
  }

  private noteCost(usd: number | undefined): void {
    if (usd === undefined || !Number.isFinite(usd)) return;
    if (this.facts.costUsd === undefined || usd > this.facts.costUsd) this.facts.costUsd = usd;
  }
}
