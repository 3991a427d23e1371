import type { Redis } from 'ioredis';
import { AgentqError } from '../errors.js';
import { EVENT_SCHEMA_VERSION, type AgentEvent, type AgentEventInput } from '../events/agent-event.js';
import type { TaskError, TaskRecord, TaskUpdate } from '../tasks/task-record.js';
import { FINAL_STATES, allowedFrom, type TaskState } from '../tasks/task-state.js';
import type { RedisKeys } from './keys.js';
import {
  appendEventsScript,
  claimIdempotencyScript,
  createTaskScript,
  transitionScript,
  unsetTaskFieldsScript,
  updateTaskScript,
} from './task-scripts.js';

export type NewTask = Omit<TaskRecord, 'state' | 'createdAt' | 'updatedAt' | 'lastSeq'> & { createdAt?: string };

export type TransitionResult =
  | { ok: true; seq: number; from: TaskState }
  | { ok: false; current: TaskState | undefined };

export interface ListTasksQuery {
  limit: number;
  state?: TaskState;
  repo?: string;
  team?: string;
  /** Keeps only the tasks for which this returns true. */
  where?: (task: TaskRecord) => boolean;
}

export interface TaskStoreOptions {
  /** Applied to every string written to Redis (record fields and events). */
  redact?: (text: string) => string;
  now?: () => Date;
}

const FINALS_ARG = FINAL_STATES.map((s) => JSON.stringify(s)).join(',');
const MAX_LIST_SCAN = 5000;
/** Stream entries read at a time, newest first, when looking for the last line written. */
const LINE_SCAN_PAGE = 200;

/** Appends `key, JSON value` pairs of the fields that are set to `out` (and returns it). */
function encodeFields(fields: Record<string, unknown>, redact: (s: string) => string, out: string[] = []): string[] {
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (value === undefined) continue;
    out.push(key, redact(JSON.stringify(value)));
  }
  return out;
}

function decodeRecord(hash: Record<string, string>): TaskRecord | undefined {
  if (Object.keys(hash).length === 0 || hash.state === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(hash)) {
    try {
      out[key] = JSON.parse(value);
    } catch {
      out[key] = value;
    }
  }
  return out as TaskRecord;
}

/** The event of a stream entry; undefined for an entry that is not one (never throws). */
function decodeEntry(fields: string[]): AgentEvent | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] !== 'e') continue;
    try {
      return JSON.parse(fields[i + 1] as string) as AgentEvent;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Entries as returned by XRANGE / XREAD: [id, [field, value, ...]]. */
export function decodeStreamEntries(entries: [string, string[]][]): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (const [, fields] of entries) {
    const event = decodeEntry(fields);
    if (event) out.push(event);
  }
  return out;
}

/**
 * Task records and their event streams in Redis. State changes are atomic and legal-only, and
 * every change appends a `task.state` event with the next contiguous seq.
 */
export class TaskStore {
  private readonly redact: (text: string) => string;
  private readonly now: () => Date;

  constructor(
    /** The connection the store uses (readers of other agentq keys may share it). */
    readonly redis: Redis,
    readonly keys: RedisKeys,
    options: TaskStoreOptions = {},
  ) {
    this.redact = options.redact ?? ((s) => s);
    this.now = options.now ?? (() => new Date());
  }

  private eventJson(taskId: string, input: AgentEventInput | Record<string, unknown>): string {
    const ts = this.now().toISOString();
    return this.redact(JSON.stringify({ v: EVENT_SCHEMA_VERSION, taskId, ts, ...input }));
  }

  /** Writes a new record in state `queued` with its first event, and indexes it. Returns false if the id exists. */
  async create(task: NewTask): Promise<boolean> {
    return (await this.writeNew(task, false)) !== 0;
  }

  /**
   * `create`, and in the same step adds the task to the log relay's task list
   * (`keys.relayTasks`). Returns that entry's id, or undefined when the id exists (nothing written).
   */
  async createAndAnnounce(task: NewTask): Promise<string | undefined> {
    const entry = await this.writeNew(task, true);
    return typeof entry === 'string' ? entry : undefined;
  }

  private writeNew(task: NewTask, announce: boolean): Promise<unknown> {
    const now = this.now().toISOString();
    // Object.assign, not `{...task, state, ...}`: V8 copies a spread followed by more properties slowly
    const record = Object.assign({}, task, { state: 'queued', createdAt: task.createdAt ?? now, updatedAt: now });
    const keys = [this.keys.task(task.id), this.keys.events(task.id), this.keys.taskIndex];
    if (announce) keys.push(this.keys.relayTasks);
    const fields = encodeFields(record, this.redact);
    fields.push('lastSeq', '0');
    const event = this.eventJson(task.id, { kind: 'task.state', state: 'queued' });
    return createTaskScript.run(this.redis, keys, [event, task.id, String(Date.parse(record.createdAt)), JSON.stringify(fields)]);
  }

  async get(taskId: string): Promise<TaskRecord | undefined> {
    return decodeRecord(await this.redis.hgetall(this.keys.task(taskId)));
  }

  async require(taskId: string): Promise<TaskRecord> {
    const task = await this.get(taskId);
    if (!task) throw new AgentqError('TASK_NOT_FOUND', `task ${taskId} not found`, { status: 404 });
    return task;
  }

  /** Moves the task to `to` if that is legal from its current state, setting `update` too. */
  async transition(
    taskId: string,
    to: TaskState,
    update: TaskUpdate = {},
  ): Promise<TransitionResult> {
    const now = this.now().toISOString();
    const fields: Record<string, unknown> = { ...update };
    if (FINAL_STATES.includes(to) && fields.finishedAt === undefined) fields.finishedAt = now;
    const eventFields: Record<string, unknown> = { kind: 'task.state', state: to };
    if (update.error) eventFields.error = update.error satisfies TaskError;
    const result = (await transitionScript.run(
      this.redis,
      [this.keys.task(taskId), this.keys.events(taskId)],
      [
        JSON.stringify(to),
        allowedFrom(to)
          .map((s) => JSON.stringify(s))
          .join(','),
        this.eventJson(taskId, eventFields),
        JSON.stringify(now),
        ...encodeFields(fields, this.redact),
      ],
    )) as [number, string];
    const [seq, previous] = result;
    if (seq > 0) return { ok: true, seq, from: JSON.parse(previous) as TaskState };
    return { ok: false, current: seq === -1 ? undefined : (JSON.parse(previous) as TaskState) };
  }

  /** Sets fields without changing state. Returns false when the task does not exist. */
  async update(taskId: string, update: TaskUpdate): Promise<boolean> {
    const fields = encodeFields({ ...update, updatedAt: this.now().toISOString() }, this.redact);
    return (await updateTaskScript.run(this.redis, [this.keys.task(taskId)], fields)) === 1;
  }

  /** Removes optional fields (e.g. `waiting`) without changing state. Returns false when the task does not exist. */
  async unset(taskId: string, fields: readonly (keyof TaskUpdate)[]): Promise<boolean> {
    if (fields.length === 0) return (await this.redis.exists(this.keys.task(taskId))) === 1;
    const updatedAt = JSON.stringify(this.now().toISOString());
    return (await unsetTaskFieldsScript.run(this.redis, [this.keys.task(taskId)], [updatedAt, ...fields])) === 1;
  }

  /**
   * Appends events with the next seqs. Returns the last seq written, or undefined when the task is
   * unknown or already final (events after the final state are dropped).
   */
  async append(taskId: string, events: AgentEventInput[]): Promise<number | undefined> {
    if (events.length === 0) return (await this.get(taskId))?.lastSeq;
    const result = (await appendEventsScript.run(
      this.redis,
      [this.keys.task(taskId), this.keys.events(taskId)],
      [FINALS_ARG, ...events.map((e) => this.eventJson(taskId, e))],
    )) as number;
    return result > 0 ? result : undefined;
  }

  /** Events with seq greater than `afterSeq`, oldest first. */
  async readEvents(taskId: string, afterSeq = 0, count = 1000): Promise<AgentEvent[]> {
    const entries = (await this.redis.xrange(
      this.keys.events(taskId),
      `(${afterSeq}-0`,
      '+',
      'COUNT',
      count,
    )) as [string, string[]][];
    return decodeStreamEntries(entries);
  }

  /**
   * Blocks up to `blockMs` for events after `afterSeq`. Use a dedicated connection: a blocking
   * read holds it.
   */
  static async waitForEvents(
    blocking: Redis,
    keys: RedisKeys,
    taskId: string,
    afterSeq: number,
    blockMs: number,
  ): Promise<AgentEvent[]> {
    const result = (await blocking.xread(
      'COUNT',
      1000,
      'BLOCK',
      blockMs,
      'STREAMS',
      keys.events(taskId),
      `${afterSeq}-0`,
    )) as [string, [string, string[]][]][] | null;
    if (!result || result.length === 0) return [];
    return decodeStreamEntries(result[0]?.[1] ?? []);
  }

  /**
   * The sandbox output line the task's newest line-numbered event came from (0 when there is
   * none): the lines up to it are written, so a dispatcher that takes the run over continues after it.
   */
  async lastWrittenLine(taskId: string): Promise<number> {
    let end = '+';
    for (;;) {
      const entries = (await this.redis.xrevrange(this.keys.events(taskId), end, '-', 'COUNT', LINE_SCAN_PAGE)) as [string, string[]][];
      if (entries.length === 0) return 0;
      for (const event of decodeStreamEntries(entries)) {
        if (event.line !== undefined) return event.line;
      }
      end = `(${entries[entries.length - 1]?.[0] ?? '0-0'}`;
    }
  }

  async eventsExist(taskId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.events(taskId))) === 1;
  }

  /** Newest first, filtered. */
  async list(query: ListTasksQuery): Promise<TaskRecord[]> {
    const out: TaskRecord[] = [];
    const page = Math.max(query.limit * 2, 50);
    for (let start = 0; start < MAX_LIST_SCAN && out.length < query.limit; start += page) {
      const ids = await this.redis.zrevrange(this.keys.taskIndex, start, start + page - 1);
      if (ids.length === 0) break;
      const pipeline = this.redis.pipeline();
      for (const id of ids) pipeline.hgetall(this.keys.task(id));
      const results = (await pipeline.exec()) ?? [];
      for (const [err, hash] of results) {
        if (err) throw err;
        const task = decodeRecord(hash as Record<string, string>);
        if (!task) continue;
        if (query.state && task.state !== query.state) continue;
        if (query.repo && task.repo !== query.repo) continue;
        if (query.team && task.team !== query.team) continue;
        if (query.where && !query.where(task)) continue;
        out.push(task);
        if (out.length >= query.limit) break;
      }
      if (ids.length < page) break;
    }
    return out;
  }

  /**
   * Binds an idempotency key to a task id for `ttlSec`. Returns the id already bound to the key,
   * or undefined when this call bound it.
   */
  async claimIdempotencyKey(team: string, key: string, taskId: string, ttlSec: number): Promise<string | undefined> {
    const existing = await claimIdempotencyScript.run(this.redis, [this.keys.idempotency(team, key)], [taskId, ttlSec]);
    return typeof existing === 'string' ? existing : undefined;
  }
}
