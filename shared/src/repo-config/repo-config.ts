import { parseDocument } from 'yaml';
import { z } from 'zod';
import { DOMAIN_PATTERN } from '../config/load-config.js';
import { AgentqError } from '../errors.js';
import { harnessNameSchema } from '../tasks/task-request.js';

/**
 * A repository's own settings for agentq: `.agentq.yml` (or `.agentq.yaml`) at the root of the
 * repository, read at the ref a run starts from. What a task says itself wins over the file, and
 * the file wins over the service configuration.
 */

/** The file names looked for, in order: the first that exists is used. */
export const REPO_CONFIG_FILES = ['.agentq.yml', '.agentq.yaml'] as const;

/** Largest file accepted. */
export const REPO_CONFIG_MAX_BYTES = 64 * 1024;

export const REPO_CONFIG_LIMITS = {
  setupCommands: 20,
  setupCommandChars: 4000,
  allowedDomains: 50,
} as const;

/** A container image reference (as `AGENTQ_SANDBOX_IMAGE` accepts). */
export const IMAGE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$/;
/** A model name (as `AGENTQ_CLAUDE_MODEL` and a task's `model` accept). */
export const MODEL_PATTERN = /^[A-Za-z0-9._:/-]{1,100}$/;

/** The error code of a file that is not valid (too large, not YAML, or not matching the schema). */
export const REPO_CONFIG_INVALID = 'DISPATCH_REPO_CONFIG_INVALID';

/** Most problems listed in the error message; the rest are counted. */
const MAX_LISTED_PROBLEMS = 20;
/** Deepest alias expansion accepted (the file is untrusted input). */
const MAX_ALIAS_COUNT = 100;

/** An array length limit checked even when some items are invalid, so every problem is reported at once. */
function atMost<T extends z.ZodType>(item: T, max: number, what: string) {
  return z
    .array(item, { error: `expected a list of ${what}` })
    .refine((list) => list.length <= max, { message: `at most ${max} ${what}`, when: (payload) => Array.isArray(payload.value) });
}

export const repoConfigSchema = z
  .object({
    image: z.string({ error: 'expected a string' }).regex(IMAGE_PATTERN, 'must be a container image reference, e.g. ghcr.io/acme/sandbox:2').optional(),
    setup: atMost(
      z
        .string({ error: 'expected a string' })
        .min(1, 'must not be empty')
        .max(REPO_CONFIG_LIMITS.setupCommandChars, `must be at most ${REPO_CONFIG_LIMITS.setupCommandChars} characters`),
      REPO_CONFIG_LIMITS.setupCommands,
      'commands',
    ).optional(),
    allowedDomains: atMost(
      z.string({ error: 'expected a string' }).regex(DOMAIN_PATTERN, 'must be a domain name (a leading `*.` is allowed)'),
      REPO_CONFIG_LIMITS.allowedDomains,
      'domains',
    ).optional(),
    harness: z.enum(harnessNameSchema.options, { error: `must be one of ${harnessNameSchema.options.join(', ')}` }).optional(),
    model: z.string({ error: 'expected a string' }).regex(MODEL_PATTERN, 'must be a model name (letters, digits and . _ : / -, at most 100)').optional(),
    maxTurns: z
      .number({ error: 'expected a number' })
      .int('expected a whole number')
      .min(1, 'must be at least 1')
      .max(1000, 'must be at most 1000')
      .optional(),
    /** Automatic follow-ups of agentq's pull requests; read from the default branch only (a branch cannot turn them on for itself). */
    autofix: z
      .object(
        {
          ci: z.boolean({ error: 'expected true or false' }).optional(),
          reviews: z.boolean({ error: 'expected true or false' }).optional(),
          maxAttempts: z.number({ error: 'expected a number' }).int('expected a whole number').min(1, 'must be at least 1').max(20, 'must be at most 20').optional(),
        },
        { error: 'expected a mapping with ci, reviews, maxAttempts' },
      )
      .strict()
      .optional(),
  })
  .strict();

export type RepoConfig = z.infer<typeof repoConfigSchema>;

const KNOWN_KEYS = Object.keys(repoConfigSchema.shape);
const NESTED_KEYS: Record<string, string[]> = { autofix: ['ci', 'reviews', 'maxAttempts'] };

function knownKeysAt(path: readonly PropertyKey[]): string[] {
  return NESTED_KEYS[String(path[0])] ?? [];
}

function pathText(path: readonly PropertyKey[]): string {
  return path.map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`)).join('').replace(/^\./, '');
}

function invalid(fileName: string, problems: string[]): AgentqError {
  const listed = problems.slice(0, MAX_LISTED_PROBLEMS).map((p) => `${fileName}: ${p}`);
  if (problems.length > MAX_LISTED_PROBLEMS) listed.push(`${fileName}: … and ${problems.length - MAX_LISTED_PROBLEMS} more problems`);
  return new AgentqError(REPO_CONFIG_INVALID, listed.join('\n'), { status: 422, details: { file: fileName, problems } });
}

/** The error of a file larger than `REPO_CONFIG_MAX_BYTES`. */
export function repoConfigTooLarge(fileName: string, size: number): AgentqError {
  return invalid(fileName, [`the file is ${size} bytes, more than the ${REPO_CONFIG_MAX_BYTES / 1024} KiB allowed`]);
}

/**
 * Parses and validates the text of a repository's settings file. An empty file (or one holding
 * only comments) is no settings. Throws `DISPATCH_REPO_CONFIG_INVALID` listing every problem, each
 * with its place: `.agentq.yml: setup[1]: expected a string`.
 */
export function parseRepoConfig(text: string, fileName: string): RepoConfig {
  const size = Buffer.byteLength(text, 'utf8');
  if (size > REPO_CONFIG_MAX_BYTES) throw repoConfigTooLarge(fileName, size);
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw invalid(
      fileName,
      doc.errors.map((e) => `not valid YAML: ${(e.message.split('\n')[0] ?? e.code).replace(/:$/, '')}`),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    throw invalid(fileName, [`not valid YAML: ${(err as Error).message.split('\n')[0] ?? 'cannot be read'}`]);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw invalid(fileName, [`expected a mapping of settings (${KNOWN_KEYS.join(', ')}) at the top level`]);
  }
  const parsed = repoConfigSchema.safeParse(data);
  if (parsed.success) return parsed.data;
  const problems: string[] = [];
  for (const issue of parsed.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const known = issue.path.length === 0 ? KNOWN_KEYS : knownKeysAt(issue.path);
        problems.push(`${pathText([...issue.path, key])}: unknown setting (known: ${known.join(', ')})`);
      }
    } else {
      problems.push(`${pathText(issue.path) || '(top level)'}: ${issue.message}`);
    }
  }
  throw invalid(fileName, problems);
}
