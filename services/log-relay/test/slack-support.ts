import { Writable } from 'node:stream';
import {
  createLogger,
  loadConfig,
  newTaskId,
  type AgentEventInput,
  type Config,
  type Logger,
  type RedisKeys,
  type TaskRecord,
  type TaskStore,
} from '@agentq/shared';
import type { FakeSlack, FakeSlackMessage } from '@agentq/shared/testing';
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { relayEnv, startTask, type RelayEnvOptions } from './support.js';

export const BOT_TOKEN = 'xoxb-relay-test-token';
export const TEAM = 'T0TEST';
export const CHANNEL = 'C0TEST';
export const PUBLIC_URL = 'http://agentq.test';
export const INTERVAL_MS = 500;

export interface SlackEnvOptions extends RelayEnvOptions {
  apiUrl: string;
  statusIntervalMs?: number;
}

export function slackRelayEnv(options: SlackEnvOptions): Record<string, string> {
  return {
    ...relayEnv(options),
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: 'relay-test-signing-secret',
    SLACK_API_URL: options.apiUrl,
    AGENTQ_SLACK_STATUS_INTERVAL_MS: String(options.statusIntervalMs ?? INTERVAL_MS),
    AGENTQ_PUBLIC_URL: PUBLIC_URL,
    AGENTQ_VIEWER_SECRET: 'relay-test-viewer-secret',
  };
}

export function slackRelayConfig(options: SlackEnvOptions): Config {
  return loadConfig(slackRelayEnv(options));
}

export interface SlackTaskOptions {
  /** The thread of a mention or follow-up; unset for a slash command. */
  threadTs?: string;
  teamId?: string;
  prompt?: string;
  /** Record fields of a follow-up the ingress creates (an automatic one of a pull request: `source`, `github`, `trigger`). */
  fields?: Partial<Pick<TaskRecord, 'source' | 'followUpOf' | 'github' | 'trigger'>>;
}

/** Creates a task as the ingress does for Slack: the record with its Slack context, then its task list entry. */
export async function submitSlackTask(store: TaskStore, redis: Redis, keys: RedisKeys, options: SlackTaskOptions = {}): Promise<string> {
  const id = newTaskId();
  const created = await store.create({
    id,
    repo: 'demo/hello',
    prompt: options.prompt ?? 'add a CONTRIBUTING.md',
    team: 'default',
    source: 'slack',
    slack: { teamId: options.teamId ?? TEAM, channel: CHANNEL, userId: 'U0REQUESTER', threadTs: options.threadTs },
    ...options.fields,
  });
  expect(created).toBe(true);
  await redis.xadd(keys.relayTasks, '*', 'taskId', id);
  return id;
}

export const COMMIT = '1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d';
export const BRANCH = 'agentq/abc123-add-a-contributing-md';

/** The agent's part of a run: tool calls, usage, messages, its result. */
export function agentEvents(toolCalls: number, options: { summary?: string; toolName?: string } = {}): AgentEventInput[] {
  const out: AgentEventInput[] = [{ kind: 'step', step: 'agent' }];
  for (let i = 0; i < toolCalls; i++) {
    out.push({ kind: 'agent.tool_call', id: `tool-${i}`, name: options.toolName ?? 'Bash', input: { command: `ls ${i}` } });
    out.push({ kind: 'agent.tool_result', id: `tool-${i}`, ok: true, output: `file-${i}` });
    out.push({ kind: 'agent.usage', inputTokens: 1000, outputTokens: 200 });
  }
  out.push({ kind: 'agent.message', text: 'Done.' });
  out.push({ kind: 'agent.result', success: true, turns: 4, costUsd: 0.0123, durationMs: 60_000, summary: options.summary ?? 'Added CONTRIBUTING.md.' });
  return out;
}

/** Commit and push of the task branch, as the run script reports them. */
export function publishEvents(): AgentEventInput[] {
  return [
    { kind: 'step', step: 'commit' },
    { kind: 'git', action: 'commit', ok: true, commit: COMMIT, diffStat: { files: 2, insertions: 10, deletions: 3 } },
    { kind: 'step', step: 'push' },
    { kind: 'git', action: 'push', ok: true, branch: BRANCH, commit: COMMIT },
  ];
}

export async function append(store: TaskStore, id: string, events: AgentEventInput[], pauseMs = 0, batch = 3): Promise<void> {
  for (let i = 0; i < events.length; i += batch) {
    expect(await store.append(id, events.slice(i, i + batch))).toBeDefined();
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
}

/** The dispatcher's final transition of a successful run. */
export async function succeed(store: TaskStore, id: string, summary = 'Added CONTRIBUTING.md.'): Promise<void> {
  const result = await store.transition(id, 'succeeded', {
    branch: BRANCH,
    commit: COMMIT,
    diffStat: { files: 2, insertions: 10, deletions: 3 },
    summary,
    costUsd: 0.0123,
    turns: 4,
    durationMs: 65_000,
    exitCode: 0,
  });
  expect(result).toMatchObject({ ok: true });
}

/** A whole successful run, from queued to succeeded. */
export async function runTask(store: TaskStore, id: string, options: { toolCalls?: number; pauseMs?: number } = {}): Promise<void> {
  await startTask(store, id);
  await append(store, id, [...agentEvents(options.toolCalls ?? 5), ...publishEvents()], options.pauseMs ?? 0);
  await succeed(store, id);
}

/** The kind a message's metadata gives it, when it belongs to `taskId`. */
export function kindOf(message: FakeSlackMessage, taskId: string): string | undefined {
  const metadata = message.metadata;
  if (metadata?.event_type !== 'agentq_task' || metadata.event_payload.taskId !== taskId) return undefined;
  return String(metadata.event_payload.kind);
}

/** Messages of a task in the fake, by kind. */
export function messagesOf(fake: FakeSlack, taskId: string): Record<string, FakeSlackMessage[]> {
  const out: Record<string, FakeSlackMessage[]> = {};
  for (const message of fake.messages) {
    const kind = kindOf(message, taskId);
    if (kind) (out[kind] ??= []).push(message);
  }
  return out;
}

export function countsOf(fake: FakeSlack, taskId: string): Record<string, number> {
  return Object.fromEntries(Object.entries(messagesOf(fake, taskId)).map(([kind, list]) => [kind, list.length]));
}

export function only(fake: FakeSlack, taskId: string, kind: string): FakeSlackMessage {
  const list = messagesOf(fake, taskId)[kind] ?? [];
  expect(list, `${kind} messages of ${taskId}`).toHaveLength(1);
  return list[0] as FakeSlackMessage;
}

interface TextLike {
  type?: string;
  text: string;
}

interface BlockLike {
  type: string;
  text?: TextLike;
  elements?: { type?: string; text?: string | TextLike; action_id?: string; value?: string }[];
}

/**
 * Every text of a message (text and blocks, button labels included), one per line; with `mrkdwn`,
 * only the texts Slack parses as mrkdwn (the message text, mrkdwn blocks and elements).
 */
export function textOf(message: { text?: unknown; blocks?: unknown }, options: { mrkdwn?: boolean } = {}): string {
  const out = [String(message.text ?? '')];
  const keep = (t: TextLike | undefined) => t !== undefined && (!options.mrkdwn || t.type === 'mrkdwn');
  for (const block of (message.blocks as BlockLike[] | undefined) ?? []) {
    if (keep(block.text)) out.push(block.text?.text ?? '');
    for (const element of block.elements ?? []) {
      if (typeof element.text === 'string') {
        if (!options.mrkdwn || element.type === 'mrkdwn') out.push(element.text);
      } else if (keep(element.text)) {
        out.push(element.text?.text ?? '');
      }
    }
  }
  return out.join('\n');
}

/** Buttons of a message: action id → value. */
export function buttonsOf(message: { blocks?: unknown }): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const block of (message.blocks as BlockLike[] | undefined) ?? []) {
    if (block.type !== 'actions') continue;
    for (const element of block.elements ?? []) if (element.action_id) out[element.action_id] = element.value;
  }
  return out;
}

/** Slack's limits: 40,000 characters of text, 50 blocks, 3,000 per section or context text, 150 per header. */
export function expectWithinLimits(message: { text?: unknown; blocks?: unknown }): void {
  expect(String(message.text ?? '').length).toBeLessThanOrEqual(40_000);
  const blocks = (message.blocks as BlockLike[] | undefined) ?? [];
  expect(blocks.length).toBeLessThanOrEqual(50);
  for (const block of blocks) {
    if (block.type === 'section') expect(block.text?.text.length).toBeLessThanOrEqual(3000);
    if (block.type === 'header') expect(block.text?.text.length).toBeLessThanOrEqual(150);
    if (block.type === 'context') {
      for (const element of block.elements ?? []) expect(String((element as { text?: string }).text ?? '').length).toBeLessThanOrEqual(3000);
    }
  }
}

/** A logger whose lines the test can read. */
export function captureLogger(): { logger: Logger; lines(): Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const logger = createLogger({ service: 'log-relay-test', level: 'info', destination });
  return { logger, lines: () => lines };
}
