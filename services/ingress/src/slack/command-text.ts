import {
  TASK_PRIORITIES,
  harnessNameSchema,
  isTaskId,
  repoNameSchema,
  taskLimitsSchema,
  taskPrioritySchema,
  taskRequestSchema,
  type HarnessName,
  type TaskPriority,
} from '@agentq/shared';

/** Task options written in a message: `--harness=demo`, `--model m`, `--max-turns=5`, `--priority high`. */
export interface TaskOptions {
  harness?: HarnessName;
  model?: string;
  maxTurns?: number;
  priority?: TaskPriority;
}

export const OPTION_NAMES = ['harness', 'model', 'max-turns', 'priority'] as const;
type OptionName = (typeof OPTION_NAMES)[number];

/** Why a text is not a task: no repository named, nothing to do, or options that cannot be read. */
export type TaskTextProblem = 'no-repo' | 'empty-prompt' | 'bad-option';

export type ParsedTask =
  | { ok: true; repo?: string; prompt: string; options: TaskOptions }
  | { ok: false; reason: TaskTextProblem; problem: string };

export type SlashCommand =
  | { kind: 'help' }
  | { kind: 'status'; id?: string }
  | { kind: 'list'; all: boolean }
  | { kind: 'cancel'; id: string }
  | { kind: 'task'; repo: string; prompt: string; options: TaskOptions }
  | { kind: 'invalid'; problem: string };

interface Token {
  text: string;
  start: number;
  end: number;
}

const OPTION_TOKEN = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s;

function tokens(text: string): Token[] {
  return [...text.matchAll(/\S+/g)].map((m) => ({ text: m[0], start: m.index, end: m.index + m[0].length }));
}

function isOptionName(name: string): name is OptionName {
  return (OPTION_NAMES as readonly string[]).includes(name);
}

function setOption(options: TaskOptions, seen: Set<string>, name: OptionName, value: string): string | undefined {
  if (seen.has(name)) return `--${name} is given twice`;
  seen.add(name);
  switch (name) {
    case 'harness': {
      const parsed = harnessNameSchema.safeParse(value);
      if (!parsed.success) return `--harness must be one of ${harnessNameSchema.options.join(', ')}`;
      options.harness = parsed.data;
      return undefined;
    }
    case 'model': {
      if (!taskRequestSchema.shape.model.safeParse(value).success) return '--model must be a model name like claude-sonnet-4-5';
      options.model = value;
      return undefined;
    }
    case 'max-turns': {
      const turns = /^\d+$/.test(value) ? Number(value) : NaN;
      if (!taskLimitsSchema.shape.maxTurns.safeParse(turns).success) return '--max-turns must be a whole number from 1 to 1000';
      options.maxTurns = turns;
      return undefined;
    }
    case 'priority': {
      const parsed = taskPrioritySchema.safeParse(value);
      if (!parsed.success) return `--priority must be one of ${TASK_PRIORITIES.join(', ')}`;
      options.priority = parsed.data;
      return undefined;
    }
  }
}

/**
 * Slack's markup back to plain text: links to their URL, user and channel references to `@id` /
 * `#name`, and `&lt;`, `&gt;`, `&amp;` to the characters.
 */
export function decodeSlackText(text: string): string {
  return text
    .replace(/<((?:https?|mailto):[^|>]+)(?:\|[^>]*)?>/g, (_, url: string) => url.replace(/^mailto:/, ''))
    .replace(/<#([A-Z0-9]+)(?:\|([^>]*))?>/g, (_, id: string, name: string | undefined) => `#${name || id}`)
    .replace(/<@([A-Z0-9]+)(?:\|[^>]*)?>/g, (_, id: string) => `@${id}`)
    .replace(/<!([a-z]+)(?:\^[^|>]*)?(?:\|[^>]*)?>/g, (_, name: string) => `@${name}`)
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The text of a mention without the leading `<@bot>` mentions. */
export function stripLeadingMentions(text: string): string {
  return text.replace(/^(\s*<@[A-Z0-9]+(?:\|[^>]*)?>)+/, '').trim();
}

/**
 * `[owner/repo] [options] prompt [options]`. Options are read right after the repository and at
 * the end, so a prompt may mention `--flags` in its middle; an unknown `--name=value` at either
 * place is an error rather than prompt text. The prompt keeps its line breaks.
 */
export function parseTaskText(text: string, repo: 'required' | 'optional'): ParsedTask {
  const decoded = decodeSlackText(text).trim();
  const all = tokens(decoded);
  let first = 0;
  let repoName: string | undefined;
  const head = all[0];
  if (head && repoNameSchema.safeParse(head.text).success) {
    repoName = head.text;
    first = 1;
  } else if (repo === 'required') {
    if (!head) return { ok: false, reason: 'no-repo', problem: 'name a repository and say what to do' };
    return { ok: false, reason: 'no-repo', problem: `${head.text} is not a repository; write owner/name first` };
  }

  const options: TaskOptions = {};
  const seen = new Set<string>();
  // leading options
  let start = first;
  while (start < all.length) {
    const match = OPTION_TOKEN.exec(all[start]?.text ?? '');
    if (!match) break;
    const [, name = '', inline] = match;
    if (!isOptionName(name)) {
      if (inline !== undefined) return badOption(unknownOption(name));
      break;
    }
    let value = inline;
    if (value === undefined) {
      value = all[start + 1]?.text;
      if (value === undefined) return badOption(`--${name} needs a value`);
      start += 1;
    }
    const problem = setOption(options, seen, name, value);
    if (problem) return badOption(problem);
    start += 1;
  }
  // trailing options
  let end = all.length;
  while (end > start) {
    const last = OPTION_TOKEN.exec(all[end - 1]?.text ?? '');
    if (last) {
      const [, name = '', inline] = last;
      if (inline !== undefined) {
        if (!isOptionName(name)) return badOption(unknownOption(name));
        const problem = setOption(options, seen, name, inline);
        if (problem) return badOption(problem);
        end -= 1;
        continue;
      }
      if (isOptionName(name)) return badOption(`--${name} needs a value`);
    }
    const beforeLast = end - 2 >= start ? OPTION_TOKEN.exec(all[end - 2]?.text ?? '') : null;
    if (beforeLast && beforeLast[2] === undefined && isOptionName(beforeLast[1] ?? '')) {
      const problem = setOption(options, seen, beforeLast[1] as OptionName, all[end - 1]?.text ?? '');
      if (problem) return badOption(problem);
      end -= 2;
      continue;
    }
    break;
  }
  const from = all[start];
  const to = all[end - 1];
  const prompt = from && to && end > start ? decoded.slice(from.start, to.end).trim() : '';
  if (prompt.length === 0) return { ok: false, reason: 'empty-prompt', problem: 'the prompt is empty: say what the agent should do' };
  return { ok: true, repo: repoName, prompt, options };
}

function badOption(problem: string): ParsedTask {
  return { ok: false, reason: 'bad-option', problem };
}

function unknownOption(name: string): string {
  return `unknown option --${name}; the options are ${OPTION_NAMES.map((n) => `--${n}`).join(', ')}`;
}

function taskIdArg(word: string | undefined): string | undefined {
  const id = word?.toLowerCase();
  return id !== undefined && isTaskId(id) ? id : undefined;
}

/** The text after the slash command: a subcommand, or a task. */
export function parseSlashCommand(text: string): SlashCommand {
  const trimmed = text.trim();
  const words = trimmed.split(/\s+/).filter((w) => w.length > 0);
  const [verb, ...rest] = words;
  switch (verb?.toLowerCase()) {
    case undefined:
    case 'help':
      return { kind: 'help' };
    case 'status': {
      if (rest.length === 0) return { kind: 'status' };
      const id = taskIdArg(rest[0]);
      if (!id || rest.length > 1) return { kind: 'invalid', problem: 'write status, or status followed by a task id' };
      return { kind: 'status', id };
    }
    case 'list': {
      if (rest.length === 0) return { kind: 'list', all: false };
      if (rest.length === 1 && rest[0]?.toLowerCase() === 'all') return { kind: 'list', all: true };
      return { kind: 'invalid', problem: 'write list, or list all' };
    }
    case 'cancel': {
      const id = taskIdArg(rest[0]);
      if (!id || rest.length > 1) return { kind: 'invalid', problem: 'write cancel followed by a task id' };
      return { kind: 'cancel', id };
    }
    default:
      break;
  }
  const parsed = parseTaskText(trimmed, 'required');
  if (!parsed.ok) return { kind: 'invalid', problem: parsed.problem };
  return { kind: 'task', repo: parsed.repo as string, prompt: parsed.prompt, options: parsed.options };
}
