import { truncate, type AgentEventInput } from '@agentq/shared';
import type { OutputParser } from './harness.js';
import { isObject, num, parseJsonLine, str, type Json } from './json-line.js';


/** Text of a tool_result `content`: a string, or an array of blocks of which the text ones count. */
function toolResultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((block) => (isObject(block) && typeof block.text === 'string' ? block.text : isObject(block) ? `[${String(block.type)}]` : ''))
      .join('\n');
  }
  return content === undefined ? '' : JSON.stringify(content);
}

/**
 * Parser for Claude Code's `--output-format stream-json --verbose` lines (also spoken by the bundled
 * demo agent). Maps by `type`, never by key order; unknown types pass through as `raw`; lines that
 * are not JSON become `log` events. The first event of each line carries the line as `raw`.
 */
export class StreamJsonParser implements OutputParser {
  private readonly usageSeen = new Set<string>();

  parseLine(line: string): AgentEventInput[] {
    return parseJsonLine(line, (msg) => this.map(msg));
  }

  private map(msg: Json): AgentEventInput[] {
    switch (msg.type) {
      case 'system':
        if (msg.subtype !== 'init') return [];
        return [
          {
            kind: 'agent.init',
            sessionId: str(msg.session_id),
            model: str(msg.model),
            cwd: str(msg.cwd),
            tools: Array.isArray(msg.tools) ? msg.tools.filter((t): t is string => typeof t === 'string') : undefined,
          },
        ];
      case 'assistant':
        return this.assistant(msg);
      case 'user':
        return this.user(msg);
      case 'result': {
        const subtype = str(msg.subtype);
        const isError = msg.is_error === true || (subtype !== undefined && subtype !== 'success');
        const summary = str(msg.result) ?? (Array.isArray(msg.errors) ? msg.errors.map(String).join('; ') : subtype);
        return [
          {
            kind: 'agent.result',
            success: !isError,
            turns: num(msg.num_turns),
            costUsd: num(msg.total_cost_usd),
            durationMs: num(msg.duration_ms),
            summary,
            sessionId: str(msg.session_id),
          },
        ];
      }
      default:
        return [];
    }
  }

  private assistant(msg: Json): AgentEventInput[] {
    const message = isObject(msg.message) ? msg.message : undefined;
    if (!message) return [];
    const out: AgentEventInput[] = [];
    const content = Array.isArray(message.content) ? message.content : [];
    for (const block of content) {
      if (!isObject(block)) continue;
      if (block.type === 'text' && typeof block.text === 'string' && block.text.length > 0) {
        out.push({ kind: 'agent.message', text: block.text });
      } else if (block.type === 'tool_use') {
        out.push({ kind: 'agent.tool_call', id: str(block.id), name: str(block.name) ?? 'unknown', input: block.input ?? {} });
      }
    }
    const id = str(message.id);
    const usage = isObject(message.usage) ? message.usage : undefined;
    if (usage && id && !this.usageSeen.has(id)) {
      this.usageSeen.add(id);
      out.push({
        kind: 'agent.usage',
        inputTokens: num(usage.input_tokens),
        outputTokens: num(usage.output_tokens),
        cacheReadTokens: num(usage.cache_read_input_tokens),
        cacheWriteTokens: num(usage.cache_creation_input_tokens),
      });
    }
    return out;
  }

  private user(msg: Json): AgentEventInput[] {
    const message = isObject(msg.message) ? msg.message : undefined;
    const content = message && Array.isArray(message.content) ? message.content : [];
    const out: AgentEventInput[] = [];
    for (const block of content) {
      if (!isObject(block) || block.type !== 'tool_result') continue;
      const { text, truncated } = truncate(toolResultText(block.content));
      out.push({ kind: 'agent.tool_result', id: str(block.tool_use_id), ok: block.is_error !== true, output: text, truncated });
    }
    return out;
  }
}
