import { z } from 'zod';
import { TASK_STATES } from './task-state.js';
import { harnessNameSchema, taskLimitsSchema, taskPrioritySchema } from './task-request.js';

export const taskErrorSchema = z.object({ code: z.string(), message: z.string() });
export type TaskError = z.infer<typeof taskErrorSchema>;

export const diffStatSchema = z.object({
  files: z.number().int().min(0),
  insertions: z.number().int().min(0),
  deletions: z.number().int().min(0),
});
export type DiffStat = z.infer<typeof diffStatSchema>;

/** Where a task's Slack messages go, when it came from Slack. */
export const slackContextSchema = z.object({
  teamId: z.string(),
  enterpriseId: z.string().optional(),
  channel: z.string(),
  /** Who asked (Slack user id). */
  userId: z.string(),
  /** Thread of the task's messages: the mention's or follow-up's thread, or the status message once posted. */
  threadTs: z.string().optional(),
  /** The status message, updated in place. */
  statusTs: z.string().optional(),
});
export type SlackContext = z.infer<typeof slackContextSchema>;

/** Where a task came from on GitHub, and where agentq answers there. */
export const githubContextSchema = z.object({
  /** The issue or pull request the task came from. */
  issueNumber: z.number().int().optional(),
  /** True when `issueNumber` is a pull request: the task works on its branch. */
  isPullRequest: z.boolean().optional(),
  /** The comment that asked (for reactions). */
  commentId: z.number().int().optional(),
  /** Who asked, when known: `Co-authored-by` of the commits. */
  login: z.string().optional(),
  /** The user id of `login` (for the noreply email of `Co-authored-by`). */
  userId: z.number().int().optional(),
});
export type GitHubContext = z.infer<typeof githubContextSchema>;

/**
 * Why a queued task has not started: no free slot in the whole pool (`global`), its team is at
 * its limit (`team`), its repository is (`repo`), or it must wait for another task to end
 * (`predecessor`).
 */
export const WAIT_REASONS = ['global', 'team', 'repo', 'predecessor'] as const;

/** Set on a queued task while it waits; removed when it starts. */
export const taskWaitingSchema = z.object({
  reason: z.enum(WAIT_REASONS),
  /** 1 = next to start among the tasks waiting for the same reason (absent for `predecessor`). */
  position: z.number().int().min(1).optional(),
  /** When it began to wait (ISO time). */
  since: z.string(),
  /** For `predecessor`: the task it waits for. */
  on: z.string().optional(),
});
export type TaskWaiting = z.infer<typeof taskWaitingSchema>;

/** The most checks and review comments a trigger lists. */
export const TRIGGER_LIST_MAX = 100;

/**
 * Why agentq started an automatic follow-up of a pull request it opened: the failing checks of
 * its head commit, or a review that requested changes. Set when the task is created.
 */
export const taskTriggerSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('ci_failure'),
    pullNumber: z.number().int(),
    /** The head commit whose checks failed. */
    headSha: z.string(),
    /** The first failing check (its page on GitHub). */
    url: z.string(),
    checks: z.array(z.object({ name: z.string(), conclusion: z.string(), url: z.string() })).max(TRIGGER_LIST_MAX),
    /** 1 for the first automatic follow-up since the last human push or comment. */
    attempt: z.number().int().min(1),
  }),
  z.object({
    kind: z.literal('changes_requested'),
    pullNumber: z.number().int(),
    reviewId: z.number().int(),
    /** The review (its page on GitHub). */
    url: z.string(),
    reviewer: z.string(),
    /** Its inline comments: the ones the agent may answer. */
    comments: z.array(z.object({ id: z.number().int(), path: z.string(), line: z.number().int().optional() })).max(TRIGGER_LIST_MAX),
    attempt: z.number().int().min(1),
  }),
]);
export type TaskTrigger = z.infer<typeof taskTriggerSchema>;

/** Where a task came from. */
export const taskSourceSchema = z.enum(['api', 'slack', 'github', 'webhook']);

/**
 * The task record as stored in Redis (one hash per task, each field JSON-encoded) and returned by
 * `GET /v1/tasks/:id`. It never holds a secret.
 */
export const taskRecordSchema = z.object({
  id: z.string(),
  state: z.enum(TASK_STATES),
  repo: z.string(),
  prompt: z.string(),
  baseRef: z.string().optional(),
  harness: harnessNameSchema.optional(),
  model: z.string().optional(),
  limits: taskLimitsSchema.optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  /** Absent means `normal`. */
  priority: taskPrioritySchema.optional(),
  /** Why a queued task has not started yet, and where it stands. */
  waiting: taskWaitingSchema.optional(),
  callbackUrl: z.string().optional(),
  team: z.string(),
  source: taskSourceSchema,
  requestHash: z.string().optional(),
  slack: slackContextSchema.optional(),
  github: githubContextSchema.optional(),
  /** Where the repository lives: the local forge, or GitHub through the App. */
  forge: z.enum(['local', 'github']).optional(),
  prNumber: z.number().int().optional(),
  /** A follow-up: continues this task's branch and resumes its agent session. */
  followUpOf: z.string().optional(),
  /** Must not start before this task has ended (the previous run in the same thread). */
  after: z.string().optional(),
  /** An automatic follow-up: what caused it. */
  trigger: taskTriggerSchema.optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  branch: z.string().optional(),
  baseCommit: z.string().optional(),
  commit: z.string().optional(),
  diffStat: diffStatSchema.optional(),
  noChanges: z.boolean().optional(),
  prUrl: z.string().optional(),
  summary: z.string().optional(),
  sessionId: z.string().optional(),
  costUsd: z.number().optional(),
  turns: z.number().optional(),
  durationMs: z.number().optional(),
  exitCode: z.number().optional(),
  provider: z.string().optional(),
  sandboxId: z.string().optional(),
  cancelRequested: z.boolean().optional(),
  error: taskErrorSchema.optional(),
  lastSeq: z.number().int().optional(),
});
export type TaskRecord = z.infer<typeof taskRecordSchema>;

/** Fields a writer may set on an existing record (identity and request fields are fixed). */
export type TaskUpdate = Partial<
  Omit<TaskRecord, 'id' | 'state' | 'repo' | 'prompt' | 'team' | 'source' | 'createdAt' | 'lastSeq'>
>;
