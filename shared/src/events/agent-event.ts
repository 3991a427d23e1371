import { z } from 'zod';
import { TASK_STATES } from '../tasks/task-state.js';
import { WAIT_REASONS, diffStatSchema, taskErrorSchema } from '../tasks/task-record.js';

export const EVENT_SCHEMA_VERSION = 1;

const base = {
  v: z.literal(EVENT_SCHEMA_VERSION),
  taskId: z.string(),
  seq: z.number().int().min(1),
  ts: z.string(),
  /** The harness line this event came from, verbatim (after redaction), when there was one. */
  raw: z.string().optional(),
  /** 1-based line number in the sandbox output the event was parsed from. */
  line: z.number().int().min(1).optional(),
};

export const agentEventSchema = z.discriminatedUnion('kind', [
  z.object({
    ...base,
    kind: z.literal('task.state'),
    state: z.enum(TASK_STATES),
    from: z.enum(TASK_STATES).optional(),
    error: taskErrorSchema.optional(),
  }),
  /** A queued task began to wait, or waits for another reason than before (see `TaskRecord.waiting`). */
  z.object({
    ...base,
    kind: z.literal('task.waiting'),
    reason: z.enum(WAIT_REASONS),
    /** Where it stood when the event was written (the record has the current one). */
    position: z.number().int().min(1).optional(),
    /** For `predecessor`: the task it waits for. */
    on: z.string().optional(),
  }),
  z.object({
    ...base,
    kind: z.literal('agent.init'),
    harness: z.string().optional(),
    sessionId: z.string().optional(),
    model: z.string().optional(),
    cwd: z.string().optional(),
    tools: z.array(z.string()).optional(),
  }),
  z.object({ ...base, kind: z.literal('agent.message'), text: z.string() }),
  z.object({
    ...base,
    kind: z.literal('agent.tool_call'),
    id: z.string().optional(),
    name: z.string(),
    input: z.unknown(),
  }),
  z.object({
    ...base,
    kind: z.literal('agent.tool_result'),
    id: z.string().optional(),
    ok: z.boolean(),
    output: z.string(),
    truncated: z.boolean().optional(),
  }),
  z.object({
    ...base,
    kind: z.literal('agent.usage'),
    inputTokens: z.number().optional(),
    outputTokens: z.number().optional(),
    cacheReadTokens: z.number().optional(),
    cacheWriteTokens: z.number().optional(),
    /** What the run has cost so far (USD), when the harness reports it. */
    costUsd: z.number().optional(),
  }),
  z.object({
    ...base,
    kind: z.literal('agent.result'),
    success: z.boolean(),
    turns: z.number().optional(),
    costUsd: z.number().optional(),
    durationMs: z.number().optional(),
    summary: z.string().optional(),
    sessionId: z.string().optional(),
  }),
  z.object({
    ...base,
    kind: z.literal('log'),
    stream: z.enum(['output', 'system']),
    text: z.string(),
  }),
  z.object({
    ...base,
    kind: z.literal('step'),
    step: z.enum(['sandbox', 'clone', 'setup', 'agent', 'commit', 'push', 'publish']),
  }),
  z.object({
    ...base,
    kind: z.literal('git'),
    action: z.enum(['clone', 'branch', 'commit', 'push', 'no_changes']),
    ok: z.boolean(),
    branch: z.string().optional(),
    commit: z.string().optional(),
    baseCommit: z.string().optional(),
    diffStat: diffStatSchema.optional(),
    message: z.string().optional(),
  }),
  z.object({ ...base, kind: z.literal('pr.opened'), url: z.string(), number: z.number().optional() }),
  z.object({ ...base, kind: z.literal('raw') }),
]);

export type AgentEvent = z.infer<typeof agentEventSchema>;
export type AgentEventKind = AgentEvent['kind'];

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** An event before it is appended: the store assigns `seq`, the writer adds `v`, `taskId`, `ts`. */
export type AgentEventInput = DistributiveOmit<AgentEvent, 'v' | 'taskId' | 'seq' | 'ts'>;

/** Largest tool output kept in an event; the rest is cut and `truncated` set. */
export const MAX_TOOL_OUTPUT_CHARS = 4000;

export function truncate(text: string, max: number = MAX_TOOL_OUTPUT_CHARS): { text: string; truncated: boolean } {
  if (text.length <= max) return { text, truncated: false };
  return { text: `${text.slice(0, max)}…`, truncated: true };
}
