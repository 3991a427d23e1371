import { truncate, type AgentEventInput } from '@agentq/shared';
import type { OutputParser } from './harness.js';
import { isObject, num, parseJsonLine, str, type Json } from './json-line.js';


/** The name Codex's shell tool goes by. */
export const CODEX_SHELL_TOOL = 'exec_command';

/** Text of an error as Codex writes it: `{message}` or a string. */
function errorText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  return isObject(value) ? str(value.message) : undefined;
}

/**
 * Parser for `codex exec --json` lines: `thread.started`, `turn.started` / `turn.completed` /
 * `turn.failed`, `item.started` / `item.updated` / `item.completed` (agent messages, shell commands,
 * file changes, MCP tool calls, reasoning, errors) and `error`. Maps by `type`; lines it has no
 * mapping for pass through as `raw`; lines that are not JSON become `log` events. The first event
 * of each line carries the line as `raw`. Every turn that ends gives an `agent.result` (Codex
 * reports no cost); the last one is the run's.
 */
export class CodexParser implements OutputParser {
  private threadId: string | undefined;
  private turns = 0;
  private lastMessage: string | undefined;
  private readonly started = new Set<string>();

  parseLine(line: string): AgentEventInput[] {
    return parseJsonLine(line, (msg) => this.map(msg));
  }

  private map(msg: Json): AgentEventInput[] {
    switch (msg.type) {
      case 'thread.started':
        this.threadId = str(msg.thread_id);
        return [{ kind: 'agent.init', sessionId: this.threadId }];
      case 'turn.completed': {
        this.turns += 1;
        const usage = isObject(msg.usage) ? msg.usage : undefined;
        const out: AgentEventInput[] = [];
        if (usage) {
          out.push({
            kind: 'agent.usage',
            inputTokens: num(usage.input_tokens),
            outputTokens: num(usage.output_tokens),
            cacheReadTokens: num(usage.cached_input_tokens),
            cacheWriteTokens: num(usage.cache_write_input_tokens),
          });
        }
        out.push({ kind: 'agent.result', success: true, turns: this.turns, summary: this.lastMessage, sessionId: this.threadId });
        return out;
      }
      case 'turn.failed':
        this.turns += 1;
        return [this.failure(errorText(msg.error) ?? 'the turn failed')];
      case 'error':
        return [this.failure(errorText(msg) ?? 'codex reported an error')];
      case 'item.started':
      case 'item.completed':
        return isObject(msg.item) ? this.item(msg.item, msg.type === 'item.completed') : [];
      default:
        return [];
    }
  }

  private failure(message: string): AgentEventInput {
    return { kind: 'agent.result', success: false, turns: this.turns || undefined, summary: message, sessionId: this.threadId };
  }

  private item(item: Json, completed: boolean): AgentEventInput[] {
    const id = str(item.id);
    switch (item.type) {
      case 'agent_message': {
        const text = str(item.text);
        if (!completed || !text) return [];
        this.lastMessage = text;
        return [{ kind: 'agent.message', text }];
      }
      case 'error': {
        const text = str(item.message);
        return completed && text ? [{ kind: 'log', stream: 'output', text }] : [];
      }
      case 'command_execution':
        return this.tool(id, completed, CODEX_SHELL_TOOL, { command: str(item.command) ?? '' }, () => ({
          ok: item.exit_code === 0,
          output: str(item.aggregated_output) ?? '',
        }));
      case 'file_change': {
        const changes = Array.isArray(item.changes) ? item.changes.filter(isObject) : [];
        return this.tool(id, completed, 'file_change', { changes }, () => ({
          ok: item.status === 'completed',
          output: changes.map((c) => `${str(c.kind) ?? 'change'} ${str(c.path) ?? ''}`).join('\n'),
        }));
      }
      case 'mcp_tool_call': {
        const name = [str(item.server), str(item.tool)].filter(Boolean).join('.') || 'mcp_tool_call';
        return this.tool(id, completed, name, item.arguments ?? {}, () => {
          const error = errorText(item.error);
          return {
            ok: item.status === 'completed' && error === undefined,
            output: error ?? (item.result === undefined || item.result === null ? '' : JSON.stringify(item.result)),
          };
        });
      }
      default:
        return [];
    }
  }

  /** A tool call when the item starts; its result when it completes (with the call, if its start was not seen). */
  private tool(
    id: string | undefined,
    completed: boolean,
    name: string,
    input: unknown,
    result: () => { ok: boolean; output: string },
  ): AgentEventInput[] {
    const call: AgentEventInput = { kind: 'agent.tool_call', id, name, input };
    if (!completed) {
      if (id) this.started.add(id);
      return [call];
    }
    const out: AgentEventInput[] = id && this.started.delete(id) ? [] : [call];
    const { ok, output } = result();
    const { text, truncated } = truncate(output);
    out.push({ kind: 'agent.tool_result', id, ok, output: text, truncated });
    return out;
  }
}
