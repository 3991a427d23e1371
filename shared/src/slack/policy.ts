import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { z } from 'zod';
import { ConfigError, DEFAULT_TEAM } from '../config/load-config.js';
import { parse as parseYaml } from 'yaml';

const ANY = '*';

const slackIdSchema = z
  .string()
  .regex(/^(\*|[A-Z0-9][A-Z0-9_-]{1,63})$/, 'must be a Slack id (like C0123ABC or U0123ABC) or "*"');

const repoPatternSchema = z
  .string()
  .regex(/^(\*|[A-Za-z0-9._*-]{1,100}\/[A-Za-z0-9._*-]{1,100})$/, 'must be "owner/name", a pattern like "acme/*", or "*"');

const idList = z.array(slackIdSchema).min(1, 'must list at least one id, or "*"');

const ruleSchema = z
  .object({
    /** Slack workspace (team) or Enterprise Grid ids. */
    workspaces: idList.default([ANY]),
    channels: idList.default([ANY]),
    users: idList.default([ANY]),
    repos: z.array(repoPatternSchema).min(1, 'must list at least one repository or pattern'),
    /** The agentq team the tasks count against. */
    team: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1 to 64 letters, digits, "_", "." or "-"')
      .optional(),
  })
  .strict();

export const slackPolicySchema = z
  .object({
    /** Slack user ids that may cancel any task. */
    admins: z.array(slackIdSchema.refine((id) => id !== ANY, 'must be a Slack user id')).default([]),
    /** First matching rule wins; none (or an empty list) lets everyone target every repository. */
    rules: z.array(ruleSchema).default([]),
  })
  .strict();

export type SlackPolicy = z.output<typeof slackPolicySchema>;
export type SlackPolicyRule = SlackPolicy['rules'][number];

/** The policy in force without a policy file: everyone may target every repository agentq knows. */
export const OPEN_SLACK_POLICY: SlackPolicy = Object.freeze({ admins: [], rules: [] }) as SlackPolicy;

/** Who asks for what. */
export interface SlackAccessRequest {
  teamId: string;
  enterpriseId?: string;
  channel: string;
  userId: string;
  repo: string;
}

export type SlackAccessDecision =
  | { allowed: true; /** agentq team of the task */ team: string; /** index of the rule that matched */ rule?: number }
  | { allowed: false };

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*');
  return new RegExp(`^${escaped}$`);
}

function repoMatches(pattern: string, repo: string): boolean {
  if (pattern === ANY) return true;
  return pattern.includes('*') ? globToRegExp(pattern).test(repo) : pattern === repo;
}

function idMatches(list: readonly string[], ...ids: (string | undefined)[]): boolean {
  return list.some((entry) => entry === ANY || ids.includes(entry));
}

/** Validates policy data (already parsed from YAML or JSON). Every problem is listed in the error. */
export function parseSlackPolicy(data: unknown, source = 'Slack policy'): SlackPolicy {
  const parsed = slackPolicySchema.safeParse(data ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const path = issue.path.map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`)).join('').replace(/^\./, '');
    return `${source}: ${path || '(top level)'}: ${issue.message}`;
  });
  throw new ConfigError(problems);
}

/** Reads and validates a policy file (`.json`, or YAML otherwise). */
export async function loadSlackPolicyFile(path: string): Promise<SlackPolicy> {
  const source = `AGENTQ_SLACK_POLICY_FILE (${path})`;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`${source}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  const json = extname(path).toLowerCase() === '.json';
  const parse: (text: string) => unknown = json ? JSON.parse : parseYaml;
  let data: unknown;
  try {
    data = parse(text);
  } catch (err) {
    throw new ConfigError([`${source}: is not valid ${json ? 'JSON' : 'YAML'} (${(err as Error).message.split('\n')[0]})`]);
  }
  return parseSlackPolicy(data, source);
}

/**
 * May this Slack user, in this channel, queue a task on this repository? With no rules everyone
 * may, counted against the `default` team; otherwise the first rule matching workspace, channel,
 * user and repository decides, and nothing matching means no.
 */
export function checkSlackAccess(policy: SlackPolicy, request: SlackAccessRequest): SlackAccessDecision {
  if (policy.rules.length === 0) return { allowed: true, team: DEFAULT_TEAM };
  const index = policy.rules.findIndex(
    (rule) =>
      idMatches(rule.workspaces, request.teamId, request.enterpriseId) &&
      idMatches(rule.channels, request.channel) &&
      idMatches(rule.users, request.userId) &&
      rule.repos.some((pattern) => repoMatches(pattern, request.repo)),
  );
  if (index < 0) return { allowed: false };
  return { allowed: true, team: policy.rules[index]?.team ?? DEFAULT_TEAM, rule: index };
}

export function isSlackAdmin(policy: SlackPolicy, userId: string): boolean {
  return policy.admins.includes(userId);
}
