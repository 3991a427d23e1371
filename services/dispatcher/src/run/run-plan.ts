import { branchName, type LocalForge, type TaskRecord, type TaskStore } from '@agentq/shared';
import type { Harness } from '../harnesses/harness.js';
import type { SandboxInheritance } from '../providers/sandbox-provider.js';
import { SAFE_BRANCH } from './run-script.js';

/** How a task's run starts: which branch, from where, and which agent session it resumes. */
export interface RunPlan {
  branch: string;
  /** The branch exists (a follow-up continues its parent's branch). */
  continueBranch: boolean;
  baseRef: string | undefined;
  resumeSessionId?: string;
  /** The earlier sandbox holding the session files, and which. */
  inherit?: SandboxInheritance;
  /** Said in log events before the sandbox starts (what is continued, what could not be). */
  notes: string[];
  /** The pull request the run works on (a follow-up of a task that opened one, a task from a PR): no new one is opened. */
  pull?: { number: number; url?: string };
  /** The task a follow-up continues, when it exists (its session may be resumed). */
  parent?: TaskRecord;
}

/** Where a task's repository lives. */
export type ForgeKind = 'local' | 'github';

export interface RunPlannerDeps {
  store: TaskStore;
  forge: LocalForge;
  /** A GitHub App is configured: repositories not in the local forge are on GitHub. */
  github: boolean;
  /** The provider sandboxes are created with (a session is resumed only from one of its own). */
  providerName: string;
  /** The service's harness, for tasks that name none. */
  defaultHarness: string;
}

/** Decides where a task's run starts: its repository's forge, its branch, and the session it resumes. */
export class RunPlanner {
  constructor(private readonly deps: RunPlannerDeps) {}

  /** Where a task's repository lives: the local forge first, else GitHub when an App is configured. */
  forgeOf(task: TaskRecord): ForgeKind | undefined {
    if (task.forge === 'github' && this.deps.github) return 'github';
    if (this.deps.forge.has(task.repo)) return 'local';
    return this.deps.github ? 'github' : undefined;
  }

  /**
   * The branch of a run. A task from a pull request works on that pull request's branch; a
   * follow-up continues its parent's branch when the parent pushed one (else it starts a new branch
   * from the parent's base); `session` then decides on its agent session.
   */
  async plan(task: TaskRecord): Promise<RunPlan> {
    const plan: RunPlan = { branch: branchName(task.id, task.prompt), continueBranch: false, baseRef: task.baseRef, notes: [] };
    const fromPull = task.github?.isPullRequest ? task.github.issueNumber : undefined;
    if (fromPull !== undefined && task.baseRef && SAFE_BRANCH.test(task.baseRef) && !task.followUpOf) {
      return {
        ...plan,
        branch: task.baseRef,
        continueBranch: true,
        pull: { number: fromPull },
        notes: [`working on branch ${task.baseRef} of pull request #${fromPull}`],
      };
    }
    if (!task.followUpOf) return plan;
    const parent = await this.deps.store.get(task.followUpOf);
    if (!parent) {
      return { ...plan, notes: [`task ${task.followUpOf} to follow up does not exist; running as a new task on branch ${plan.branch}`] };
    }
    const parentBranch = parent.branch;
    const branchThere =
      parentBranch !== undefined &&
      parent.repo === task.repo &&
      SAFE_BRANCH.test(parentBranch) &&
      (await this.branchExists(task, parent, parentBranch));
    if (branchThere) {
      return {
        ...plan,
        branch: parentBranch,
        continueBranch: true,
        pull: parent.prNumber !== undefined ? { number: parent.prNumber, url: parent.prUrl } : undefined,
        notes: [`continuing branch ${parentBranch} of task ${parent.id}`],
        parent,
      };
    }
    const baseRef = task.baseRef ?? (parent.repo === task.repo ? parent.baseRef : undefined);
    const why = parentBranch
      ? `branch ${parentBranch} of task ${parent.id} is not in ${task.repo}`
      : `task ${parent.id} has no branch (it pushed no changes)`;
    return { ...plan, baseRef, notes: [`${why}; starting from ${baseRef ?? 'the default branch'} on a new branch ${plan.branch}`], parent };
  }

  /**
   * The session of a follow-up's run: it resumes the parent's agent session when the parent had
   * one, with the same harness, in a sandbox of this provider. Otherwise the plan says why not.
   */
  session(plan: RunPlan, harness: Harness): RunPlan {
    const parent = plan.parent;
    if (!parent) return plan;
    const parentHarness = parent.harness ?? this.deps.defaultHarness;
    const note = (text: string): RunPlan => ({ ...plan, notes: [...plan.notes, text] });
    if (!parent.sessionId) return note(`task ${parent.id} has no agent session to resume; the agent starts a new one`);
    if (parentHarness !== harness.name) {
      return note(`task ${parent.id} ran the ${parentHarness} harness, whose session ${harness.name} cannot resume; the agent starts a new one`);
    }
    if (!parent.sandboxId || (parent.provider ?? this.deps.providerName) !== this.deps.providerName) {
      return note(`the sandbox of task ${parent.id} is not available; the agent starts a new session`);
    }
    return { ...plan, resumeSessionId: parent.sessionId, inherit: { sandboxId: parent.sandboxId, homePaths: harness.sessionFiles } };
  }

  /**
   * Is the parent's branch there to continue? The local forge is looked at; on GitHub the branch a
   * task pushed is taken to be there (a run that does not find it fails with DISPATCH_BRANCH_NOT_FOUND).
   */
  private async branchExists(task: TaskRecord, parent: TaskRecord, branch: string): Promise<boolean> {
    if (this.forgeOf(task) === 'github') return parent.forge === 'github';
    return (await this.deps.forge.branchCommit(task.repo, branch)) !== undefined;
  }
}
