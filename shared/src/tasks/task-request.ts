import { z } from 'zod';
import { controlCharacterIn, PROTOTYPE_KEYS } from './control-characters.js';

export const REPO_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,99})\/[A-Za-z0-9._-]{1,100}$/;

export const repoNameSchema = z
  .string()
  .regex(REPO_PATTERN, 'must look like "owner/name"')
  .refine((r) => !r.split('/').some((part) => part === '.' || part === '..' || part.endsWith('.git')), {
    message: 'must look like "owner/name"',
  });

export const harnessNameSchema = z.enum(['claude-code', 'codex', 'command', 'demo']);
export type HarnessName = z.infer<typeof harnessNameSchema>;

export const taskLimitsSchema = z
  .object({
    maxTurns: z.number().int().min(1).max(1000).optional(),
    timeoutSec: z.number().int().min(1).max(7 * 24 * 3600).optional(),
    maxCostUsd: z.number().positive().max(10_000).optional(),
  })
  .strict();
export type TaskLimits = z.infer<typeof taskLimitsSchema>;

/** How soon a waiting task starts within its team (tasks of other teams are shared fairly, whatever their priority). */
export const TASK_PRIORITIES = ['low', 'normal', 'high'] as const;
export const taskPrioritySchema = z.enum(TASK_PRIORITIES);
export type TaskPriority = z.infer<typeof taskPrioritySchema>;

const metadataRecord = z.record(
  z
    .string()
    .max(100)
    .refine((k) => !PROTOTYPE_KEYS.has(k), 'must not be __proto__, constructor or prototype')
    .refine((k) => controlCharacterIn(k) === undefined, 'must not contain control characters'),
  z
    .string()
    .max(1000)
    .refine((v) => controlCharacterIn(v) === undefined, 'must not contain control characters'),
);

/** A task's `metadata`: a record the parser would silently drop `__proto__` from is refused instead. */
const metadataSchema = z
  .unknown()
  .superRefine((value, ctx) => {
    if (value !== null && typeof value === 'object' && Object.hasOwn(value, '__proto__')) {
      ctx.addIssue({ code: 'custom', path: ['__proto__'], message: 'must not be __proto__, constructor or prototype' });
    }
  })
  .pipe(metadataRecord);

/** The body of `POST /v1/tasks`. */
export const taskRequestSchema = z
  .object({
    repo: repoNameSchema,
    prompt: z.string().trim().min(1, 'must not be empty'),
    baseRef: z
      .string()
      .regex(/^[A-Za-z0-9._/-]{1,200}$/, 'must be a branch, tag or commit name')
      .refine((r) => !r.startsWith('-') && !r.includes('..'), 'must be a branch, tag or commit name')
      .optional(),
    harness: harnessNameSchema.optional(),
    model: z.string().regex(/^[A-Za-z0-9._:/-]{1,100}$/).optional(),
    limits: taskLimitsSchema.optional(),
    callbackUrl: z.url({ protocol: /^https?$/ }).optional(),
    /** Keys `__proto__`, `constructor` and `prototype` are refused; no control characters in keys or values. */
    metadata: metadataSchema.optional(),
    /** `normal` when absent. */
    priority: taskPrioritySchema.optional(),
  })
  .strict();
export type TaskRequest = z.infer<typeof taskRequestSchema>;
