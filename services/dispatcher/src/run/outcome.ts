import type { BudgetStop, TaskUpdate } from '@agentq/shared';
import { taskError, type DispatchErrorCode } from '../dispatch-errors.js';
import type { SandboxStatus } from '../providers/sandbox-provider.js';
import type { RunFacts } from './output-reader.js';

export type FinalState = 'succeeded' | 'failed' | 'canceled' | 'timed_out';

export interface Outcome {
  state: FinalState;
  update: TaskUpdate;
}

export interface OutcomeInput {
  facts: RunFacts;
  status: SandboxStatus;
  /** Set when the dispatcher stopped the sandbox. */
  stopped?: 'cancel' | 'timeout' | 'budget';
  repo: string;
  baseRef: string | undefined;
  timeoutSec: number;
  /** The task's spending limit (USD), when it has one. */
  maxCostUsd?: number;
  /** What the model gateway metered for the task (USD): the task cost at least this. */
  meteredUsd?: number;
  /** For a stop for money: which limit (the task's, or its team's day), from the gateway or the dispatcher. */
  budget?: BudgetStop;
  /** Where the task branch points in the forge after the push (undefined: not there). */
  forgeCommit: string | undefined;
}

const MAX_MESSAGE = 2000;

function clip(text: string): string {
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text;
}

function lastLines(facts: RunFacts, count = 5): string | undefined {
  const lines = facts.textTail.slice(-count);
  return lines.length > 0 ? lines.join('\n') : undefined;
}

/** A dollar amount with enough digits to tell small costs apart. */
function usd(value: number): string {
  return value >= 1 ? value.toFixed(2) : value.toPrecision(3);
}

function failed(update: TaskUpdate, code: DispatchErrorCode, message: string): Outcome {
  return { state: 'failed', update: { ...update, error: taskError(code, clip(message)) } };
}

/** What a task cost: the larger of what its agent reported and what the model gateway metered. */
export function taskCost(reportedUsd: number | undefined, meteredUsd: number | undefined): number | undefined {
  const metered = meteredUsd !== undefined && meteredUsd > 0 ? meteredUsd : undefined;
  if (reportedUsd === undefined) return metered;
  return Math.max(reportedUsd, metered ?? 0);
}

/** The final state and record fields of a run, from what its output said and how it ended. */
export function decideOutcome(input: OutcomeInput): Outcome {
  const { facts, status } = input;
  const result = facts.agentResult;
  const update: TaskUpdate = {
    baseCommit: facts.baseCommit,
    sessionId: facts.sessionId,
    turns: result?.turns,
    costUsd: taskCost(facts.costUsd ?? result?.costUsd, input.meteredUsd),
    summary: result?.summary,
    exitCode: facts.agentExitCode,
  };

  if (input.stopped === 'cancel') return { state: 'canceled', update };
  if (input.stopped === 'timeout') {
    return {
      state: 'timed_out',
      update: { ...update, error: taskError('DISPATCH_TIMEOUT', `the task ran longer than its limit of ${input.timeoutSec} s`) },
    };
  }
  if (input.stopped === 'budget') {
    const budget = input.budget;
    if (budget?.scope === 'team') {
      return failed(
        update,
        'DISPATCH_BUDGET_EXCEEDED',
        `the team's spending today of $${usd(budget.spentUsd)} reached its daily cap of $${usd(budget.limitUsd)} (AGENTQ_TEAM_DAILY_USD); the sandbox was stopped`,
      );
    }
    const cost = Math.max(update.costUsd ?? 0, budget?.spentUsd ?? 0);
    return failed(
      update,
      'DISPATCH_BUDGET_EXCEEDED',
      `the task's cost of $${usd(cost)} exceeded its limit of $${usd(input.maxCostUsd ?? budget?.limitUsd ?? 0)} (limits.maxCostUsd); the sandbox was stopped`,
    );
  }
  const tail = lastLines(facts);
  if (facts.cloneFailure === 'base_ref') {
    return failed(update, 'DISPATCH_BASE_REF_NOT_FOUND', `base ref ${JSON.stringify(input.baseRef ?? '')} was not found in ${input.repo}`);
  }
  if (facts.cloneFailure === 'branch') {
    return failed(update, 'DISPATCH_BRANCH_NOT_FOUND', `the branch to continue was not found in ${input.repo}`);
  }
  if (facts.cloneFailure === 'clone' || facts.branchFailed) {
    return failed(update, 'DISPATCH_CLONE_FAILED', `could not clone ${input.repo}${tail ? `: ${tail}` : ''}`);
  }
  if (facts.setupFailure) {
    const { index, count, code } = facts.setupFailure;
    return failed(update, 'DISPATCH_SETUP_FAILED', `setup command ${index + 1} of ${count} failed with exit code ${code}${tail ? `: ${tail}` : ''}`);
  }
  if (result?.success === false) {
    return failed(update, 'DISPATCH_AGENT_FAILED', result.summary || tail || 'the agent reported a failure');
  }
  if (facts.agentExitCode !== undefined && facts.agentExitCode !== 0) {
    return failed(update, 'DISPATCH_AGENT_FAILED', tail ?? `the agent exited with code ${facts.agentExitCode}`);
  }
  if (facts.agentExitCode === undefined || (!facts.commit && !facts.noChanges && !facts.commitFailed)) {
    if (status.state === 'lost') {
      return failed(update, 'DISPATCH_SANDBOX_LOST', 'the sandbox stopped before the run finished');
    }
    const code = status.state === 'exited' ? status.exitCode : undefined;
    return failed(update, 'DISPATCH_SANDBOX_FAILED', `the run ended early${code !== undefined ? ` with code ${code}` : ''}${tail ? `: ${tail}` : ''}`);
  }
  if (facts.commitFailed) {
    return failed(update, 'DISPATCH_COMMIT_FAILED', `could not commit the changes${tail ? `: ${tail}` : ''}`);
  }
  // the run script exits 0 only once it has finished; its output alone proves nothing (the agent
  // writes to the same output and can kill the script)
  if (status.state === 'exited' && status.exitCode !== 0) {
    return failed(
      update,
      'DISPATCH_RUN_INTERRUPTED',
      `the run ended with code ${status.exitCode} although its output said it had ${facts.noChanges ? 'found no changes' : 'pushed'}; the run script was interrupted, so the output is not believed`,
    );
  }
  if (facts.noChanges) {
    // a continued branch exists in the forge with the earlier runs' work, even when this run added nothing
    const branch = facts.branchContinued ? facts.branch : undefined;
    return { state: 'succeeded', update: { ...update, noChanges: true, branch } };
  }
  const commit = facts.commit;
  if (!commit || !facts.push?.ok) {
    return failed(
      { ...update, commit: commit?.sha, diffStat: commit?.diffStat },
      'DISPATCH_PUSH_FAILED',
      `could not push ${facts.branch ?? 'the branch'}${tail ? `: ${tail}` : ''}`,
    );
  }
  if (input.forgeCommit !== commit.sha) {
    return failed(
      { ...update, commit: commit.sha, diffStat: commit.diffStat },
      'DISPATCH_PUSH_FAILED',
      `${facts.branch ?? 'the branch'} is not at ${commit.sha} in ${input.repo} after the push`,
    );
  }
  return {
    state: 'succeeded',
    update: { ...update, branch: facts.branch, commit: commit.sha, diffStat: commit.diffStat },
  };
}
