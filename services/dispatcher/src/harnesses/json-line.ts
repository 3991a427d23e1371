import type { AgentEventInput } from '@agentq/shared';

/** A parsed JSON object of an agent's output line. */
export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/**
 * The framing every JSON-lines harness parser shares: blank lines give nothing, lines that are not
 * a JSON object become `log` events, objects go to `map`; objects it has no mapping for pass through
 * as `raw`, and the first event of a line carries the line as `raw`. Never throws on bad input.
 */
export function parseJsonLine(line: string, map: (msg: Json) => AgentEventInput[]): AgentEventInput[] {
  const trimmed = line.trim();
  if (trimmed.length === 0) return [];
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return [{ kind: 'log', stream: 'output', text: line }];
  }
  if (!isObject(value)) return [{ kind: 'log', stream: 'output', text: line }];
  const events = map(value);
  if (events.length === 0) return [{ kind: 'raw', raw: trimmed }];
  events[0] = { ...events[0], raw: trimmed } as AgentEventInput;
  return events;
}
