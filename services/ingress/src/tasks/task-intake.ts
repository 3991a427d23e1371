import {
  jobPriority,
  newTaskId,
  queues,
  type GitHubContext,
  type Logger,
  type NewTask,
  type SlackContext,
  type TaskPriority,
  type TaskRecord,
  type TaskRequest,
  type TaskState,
  type TaskStore,
} from '@agentq/shared';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { ingressError, unavailable } from '../http/ingress-errors.js';
import { redisCall } from '../http/redis-call.js';
import { requestHash } from './request-hash.js';

export interface IntakeRequest {
  team: string;
  request: TaskRequest;
  idempotencyKey?: string;
  /** Namespace of `idempotencyKey` (default: the team). */
  idempotencyScope?: string;
  /** Where the task came from (default `api`). */
  source?: TaskRecord['source'];
  slack?: SlackContext;
  github?: GitHubContext;
  /** Where the repository lives (from admission). */
  forge?: TaskRecord['forge'];
  followUpOf?: string;
  after?: string;
  /** An automatic follow-up: what caused it. */
  trigger?: TaskRecord['trigger'];
}

export interface IntakeResult {
  id: string;
  state: TaskState;
  /** True when an earlier request with the same `Idempotency-Key` created the task. */
  replayed: boolean;
}

export interface TaskIntakeOptions {
  store: TaskStore;
  redis: Redis;
  queue: Queue;
  logger: Logger;
  idempotencyTtlSec: number;
  /** A request younger than this that holds an idempotency key is taken to be still in progress. */
  inProgressMs?: number;
  now?: () => number;
}

/** Deletes an idempotency key only while it still names the given task. */
const RELEASE_KEY = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

const MAX_ROUNDS = 4;

/** What one attempt to accept a task has written so far. */
interface Attempt {
  id: string;
  /** Namespace of the idempotency key. */
  scope: string;
  key?: string;
  created: boolean;
}

/**
 * Accepts tasks: writes the record with its first event, index entry and log relay announcement
 * in one step, then adds the BullMQ job (job id = task id), and reports success only once the job
 * is in Redis: a fresh task costs two Redis commands. When a step fails, what was written is
 * removed (best effort) and the caller answers 503.
 *
 * With an idempotency key, the key is bound to the task id before anything else is written, so
 * a repeated request finds the first task; a first attempt that died half-way is completed by
 * the retry rather than duplicated.
 */
export class TaskIntake {
  private readonly inProgressMs: number;
  private readonly now: () => number;

  constructor(private readonly options: TaskIntakeOptions) {
    this.inProgressMs = options.inProgressMs ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  async submit(input: IntakeRequest): Promise<IntakeResult> {
    const key = input.idempotencyKey;
    if (key === undefined) {
      // no key, no repeat to compare with: the request is not hashed
      const attempt: Attempt = { id: newTaskId(), scope: input.team, created: false };
      await this.write(attempt, input, undefined);
      return { id: attempt.id, state: 'queued', replayed: false };
    }
    const hash = requestHash(input.request);
    const { store, idempotencyTtlSec } = this.options;
    const scope = input.idempotencyScope ?? input.team;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const id = newTaskId();
      const bound = await redisCall(() => store.claimIdempotencyKey(scope, key, id, idempotencyTtlSec));
      if (bound === undefined) {
        await this.write({ id, scope, key, created: false }, input, hash);
        return { id, state: 'queued', replayed: false };
      }
      const result = await this.resume(bound, input, hash, key);
      if (result) return result;
    }
    throw this.inProgress();
  }

  /**
   * The key is bound to `id` already. Returns that task, completes it when its first attempt
   * died half-way, or returns undefined when the key vanished meanwhile (the caller claims again).
   */
  private async resume(id: string, input: IntakeRequest, hash: string, key: string): Promise<IntakeResult | undefined> {
    const { store, redis, queue, logger } = this.options;
    const scope = input.idempotencyScope ?? input.team;
    const attempt: Attempt = { id, scope, key, created: false };
    let record: TaskRecord | undefined = await redisCall(() => store.get(id));
    if (!record) {
      const ttlMs = await redisCall(() => redis.pttl(store.keys.idempotency(scope, key)));
      if (ttlMs === -2) return undefined;
      const ageMs = ttlMs < 0 ? Infinity : this.options.idempotencyTtlSec * 1000 - ttlMs;
      if (ageMs < this.inProgressMs) throw this.inProgress();
      // the request that bound the key died before writing the record: take its place
      logger.warn({ taskId: id }, 'completing an abandoned task request');
      if (await this.write(attempt, input, hash, true)) return { id, state: 'queued', replayed: false };
      record = await redisCall(() => store.get(id));
      if (!record) return undefined;
    }
    if (record.requestHash !== hash) {
      throw ingressError(
        'INGRESS_IDEMPOTENCY_CONFLICT',
        'this Idempotency-Key was used for a different request; use a new key for a new task',
        { details: { taskId: id } },
      );
    }
    if (record.state === 'queued') {
      const job = await redisCall(() => queue.getJob(id));
      if (!job) {
        if (this.now() - Date.parse(record.createdAt) < this.inProgressMs) throw this.inProgress();
        logger.warn({ taskId: id }, 'completing a half-written task');
        await this.complete({ ...attempt, created: true }, record.priority);
        return { id, state: 'queued', replayed: false };
      }
    }
    return { id, state: record.state, replayed: true };
  }

  private inProgress() {
    return ingressError('INGRESS_IDEMPOTENCY_IN_PROGRESS', 'a request with this Idempotency-Key is in progress; retry later');
  }

  /**
   * Writes the record (announced to the log relay in the same step), then adds the job. With
   * `mayExist`, returns false (and writes nothing) when the record is there already.
   */
  private async write(attempt: Attempt, input: IntakeRequest, hash: string | undefined, mayExist = false): Promise<boolean> {
    const { request } = input;
    const task: NewTask = {
      id: attempt.id,
      repo: request.repo,
      prompt: request.prompt,
      baseRef: request.baseRef,
      harness: request.harness,
      model: request.model,
      limits: request.limits,
      metadata: request.metadata,
      priority: request.priority,
      callbackUrl: request.callbackUrl,
      team: input.team,
      source: input.source ?? 'api',
      requestHash: hash,
      slack: input.slack,
      github: input.github,
      forge: input.forge,
      followUpOf: input.followUpOf,
      after: input.after,
      trigger: input.trigger,
    };
    let relayEntry: string | undefined;
    try {
      relayEntry = await this.options.store.createAndAnnounce(task);
    } catch (err) {
      // the write may have happened with only its reply lost; a fresh id is ours to remove (the
      // relay drops a task list entry whose task has no record)
      attempt.created = !mayExist;
      await this.discard(attempt, undefined);
      throw unavailable(err);
    }
    if (relayEntry === undefined) {
      if (mayExist) return false;
      throw ingressError('INGRESS_INTERNAL', 'task id collision');
    }
    attempt.created = true;
    await this.addJob(attempt, relayEntry, request.priority);
    return true;
  }

  /** Adds the task's job; when that fails, removes what the attempt wrote (`relayEntry` too). */
  private async addJob(attempt: Attempt, relayEntry: string | undefined, priority: TaskPriority | undefined): Promise<void> {
    try {
      await this.options.queue.add(
        queues.tasks.name,
        { taskId: attempt.id },
        { ...queues.tasks.jobOptions, jobId: attempt.id, priority: jobPriority(priority) },
      );
    } catch (err) {
      await this.discard(attempt, relayEntry);
      throw unavailable(err);
    }
  }

  /**
   * Completes a task whose record was written but whose job was not: announces it to the log
   * relay again (a second entry for a task is harmless) and adds the job.
   */
  private async complete(attempt: Attempt, priority: TaskPriority | undefined): Promise<void> {
    const { store, redis } = this.options;
    let relayEntry: string | undefined;
    try {
      relayEntry = (await redis.xadd(store.keys.relayTasks, '*', 'taskId', attempt.id)) ?? undefined;
    } catch (err) {
      await this.discard(attempt, undefined);
      throw unavailable(err);
    }
    await this.addJob(attempt, relayEntry, priority);
  }

  /** Best-effort removal of what an attempt wrote, so a task that was not accepted leaves nothing behind. */
  private async discard(attempt: Attempt, relayEntry: string | undefined): Promise<void> {
    const { store, redis, queue, logger } = this.options;
    const keys = store.keys;
    const steps: Promise<unknown>[] = [];
    if (attempt.created) {
      steps.push(redis.del(keys.task(attempt.id), keys.events(attempt.id)), redis.zrem(keys.taskIndex, attempt.id));
      steps.push(queue.remove(attempt.id));
    }
    if (relayEntry) steps.push(redis.xdel(keys.relayTasks, relayEntry));
    if (attempt.key !== undefined) {
      steps.push(redis.eval(RELEASE_KEY, 1, keys.idempotency(attempt.scope, attempt.key), attempt.id));
    }
    const results = await Promise.allSettled(steps);
    const failed = results.filter((r) => r.status === 'rejected').length;
    if (failed > 0) logger.warn({ taskId: attempt.id, failed }, 'could not remove a task that was not accepted');
  }
}
