import {
  checkSlackAccess,
  isAgentqError,
  isFinalState,
  isSlackAdmin,
  SlackThreads,
  taskRequestSchema,
  viewerUrl,
  type Logger,
  type SlackContext,
  type SlackPolicy,
  type SlackThread,
  type TaskRecord,
  type TaskRequest,
} from '@agentq/shared';
import type { Redis } from 'ioredis';
import { ingressError, taskNotFound, unavailable } from '../http/ingress-errors.js';
import { redisCall } from '../http/redis-call.js';
import type { CancelResult } from '../tasks/task-canceler.js';
import { admitTaskRequest } from '../tasks/task-admission.js';
import type { TaskOptions } from './command-text.js';
import { UNAVAILABLE_TEXT } from './slack-messages.js';
import type { TaskServices } from '../tasks/task-services.js';

/** Who is asking, from where. */
export interface SlackActor {
  teamId: string;
  enterpriseId?: string;
  channel: string;
  userId: string;
}

export interface SlackTaskInput {
  actor: SlackActor;
  repo: string;
  prompt: string;
  options?: TaskOptions;
  /** Fields taken over from an earlier task (retry, follow-up); `options` override them. */
  inherit?: Pick<TaskRequest, 'baseRef' | 'harness' | 'model' | 'limits' | 'priority'>;
  /** The Slack delivery this task comes from (`event:<event_id>`, `command:<trigger_id>`…): a redelivery finds the same task. */
  deliveryKey: string;
  /** The thread the task's messages go to; unset for a slash command (the relay starts a thread). */
  threadTs?: string;
  /** A follow-up of this task (continues its branch and agent session). */
  followUpOf?: TaskRecord;
}

export interface StartedTask {
  id: string;
  repo: string;
  replayed: boolean;
  viewerUrl: string;
}

export interface SlackTasksOptions extends TaskServices {
  redis: Redis;
  policy: SlackPolicy;
  viewerSecret: string;
  logger: Logger;
  isShuttingDown: () => boolean;
}

/** Idempotency keys of Slack deliveries are scoped by workspace, whatever agentq team the task counts against. */
function deliveryScope(actor: SlackActor): string {
  return `slack:${actor.enterpriseId ?? '-'}:${actor.teamId}`;
}

/**
 * The tasks side of the Slack app: queues tasks through the task intake after the policy and the
 * forge agree, keeps each thread pointing at its latest task, and finds, lists and cancels tasks
 * for the people of a workspace.
 */
export class SlackTasks {
  private readonly threads: SlackThreads;

  constructor(private readonly options: SlackTasksOptions) {
    this.threads = new SlackThreads(options.redis, options.store.keys);
  }

  get policy(): SlackPolicy {
    return this.options.policy;
  }

  viewerUrl(taskId: string): string {
    return viewerUrl(this.options.config.publicUrl, this.options.viewerSecret, taskId);
  }

  async start(input: SlackTaskInput): Promise<StartedTask> {
    const { config, forge, intake, store, redis, logger } = this.options;
    if (this.options.isShuttingDown()) throw unavailable();
    const { actor, repo } = input;
    const access = checkSlackAccess(this.options.policy, { ...actor, repo });
    if (!access.allowed) {
      throw ingressError('INGRESS_FORBIDDEN', `you may not queue tasks on \`${repo}\` from this channel (Slack policy)`);
    }
    const options = input.options ?? {};
    const inherited = input.inherit ?? {};
    const limits = { ...inherited.limits, ...(options.maxTurns !== undefined ? { maxTurns: options.maxTurns } : {}) };
    const parsed = taskRequestSchema.safeParse({
      repo,
      prompt: input.prompt,
      baseRef: inherited.baseRef,
      harness: options.harness ?? inherited.harness,
      model: options.model ?? inherited.model,
      limits: Object.keys(limits).length > 0 ? limits : undefined,
      priority: options.priority ?? inherited.priority,
    });
    if (!parsed.success) {
      throw ingressError('INGRESS_INVALID_REQUEST', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    }
    const admission = await admitTaskRequest(parsed.data, {
      config,
      forge,
      github: this.options.github,
      budget: { redis, keys: store.keys, team: access.team },
    });
    const parent = input.followUpOf;
    const threadTs = input.threadTs;
    const slack: SlackContext = { teamId: actor.teamId, channel: actor.channel, userId: actor.userId };
    if (actor.enterpriseId) slack.enterpriseId = actor.enterpriseId;
    if (threadTs) slack.threadTs = threadTs;
    const thread: SlackThread | undefined = threadTs ? { teamId: actor.teamId, channel: actor.channel, threadTs } : undefined;
    const previous = thread ? await redisCall(() => this.threads.latestTask(thread)) : undefined;

    const result = await intake.submit({
      team: access.team,
      request: parsed.data,
      idempotencyKey: input.deliveryKey,
      idempotencyScope: deliveryScope(actor),
      source: 'slack',
      forge: admission.forge,
      slack,
      followUpOf: parent?.id,
      after: parent && !isFinalState(parent.state) ? parent.id : undefined,
    });
    if (thread) await redisCall(() => this.threads.moveTo(thread, result.id, previous));
    const log = logger.child({ taskId: result.id });
    if (result.replayed) log.debug({ delivery: input.deliveryKey }, 'slack redelivery of an accepted task');
    else log.info({ repo, team: access.team, followUpOf: parent?.id, channel: actor.channel }, 'task accepted from slack');
    return { id: result.id, repo, replayed: result.replayed, viewerUrl: this.viewerUrl(result.id) };
  }

  /** The latest task of a thread, when the thread belongs to a task. */
  async threadTask(teamId: string, channel: string, threadTs: string): Promise<TaskRecord | undefined> {
    const { store, archive } = this.options;
    const id = await redisCall(() => this.threads.latestTask({ teamId, channel, threadTs }));
    if (!id) return undefined;
    return (await redisCall(() => store.get(id))) ?? (await archive.readTask(id));
  }

  /** A task started from this Slack workspace (or enterprise); others are reported as not found. */
  async find(id: string, actor: SlackActor): Promise<TaskRecord> {
    const { store, archive } = this.options;
    const task = (await redisCall(() => store.get(id))) ?? (await archive.readTask(id));
    if (!task || !sameWorkspace(task, actor)) throw taskNotFound(id);
    return task;
  }

  /** Newest first: tasks of this workspace that `where` keeps. */
  async recent(actor: SlackActor, limit: number, where: (slack: SlackContext) => boolean): Promise<TaskRecord[]> {
    const { store } = this.options;
    return redisCall(() =>
      store.list({ limit, where: (task) => task.slack !== undefined && sameWorkspace(task, actor) && where(task.slack) }),
    );
  }

  mayCancel(task: TaskRecord, userId: string): boolean {
    return task.slack?.userId === userId || isSlackAdmin(this.options.policy, userId);
  }

  async cancel(task: TaskRecord, actor: SlackActor): Promise<CancelResult> {
    if (!this.mayCancel(task, actor.userId)) {
      throw ingressError('INGRESS_FORBIDDEN', `only the person who asked for \`${task.id}\` or an agentq admin may cancel it`);
    }
    if (this.options.isShuttingDown()) throw unavailable();
    const result = await this.options.canceler.cancel(task);
    this.options.logger.info({ taskId: task.id, state: result.state, by: actor.userId }, 'cancel requested from slack');
    return result;
  }
}

function sameWorkspace(task: TaskRecord, actor: SlackActor): boolean {
  const slack = task.slack;
  if (!slack) return false;
  if (slack.teamId === actor.teamId) return true;
  return actor.enterpriseId !== undefined && slack.enterpriseId === actor.enterpriseId;
}

/** What to tell the person in Slack when a request failed; internal errors are logged, not shown. */
export function slackErrorText(err: unknown, logger: Logger): string {
  if (isAgentqError(err)) {
    if (err.code === 'INGRESS_UNAVAILABLE') {
      logger.warn({ code: err.code }, 'slack request refused: redis unavailable');
      return UNAVAILABLE_TEXT;
    }
    if (err.code === 'INGRESS_IDEMPOTENCY_IN_PROGRESS') return ':hourglass: This request is being handled already.';
    if (err.code === 'INGRESS_TASK_FINAL') return `:information_source: ${err.message}.`;
    if (err.status < 500) return `:warning: ${err.message}.`;
  }
  logger.error({ err }, 'slack request failed');
  return ':x: agentq could not handle this request (internal error).';
}
