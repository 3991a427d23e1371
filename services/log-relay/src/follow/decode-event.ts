import type { AgentEvent } from '@agentq/shared';
import { fieldValue, type StreamEntry } from '../redis/stream-reply.js';

/**
 * The event in a task stream entry (field `e`), or undefined when the entry is not one: no JSON
 * object, no positive integer `seq` matching the entry id, no `kind`, or another task's id. Kinds
 * this version does not know pass through: the archive keeps whatever the writer wrote.
 */
export function decodeEvent(entry: StreamEntry, taskId: string): AgentEvent | undefined {
  const json = fieldValue(entry.fields, 'e');
  if (json === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const event = value as Record<string, unknown>;
  const seq = event.seq;
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 1) return undefined;
  if (entry.id !== `${seq}-0`) return undefined;
  if (typeof event.kind !== 'string' || event.taskId !== taskId) return undefined;
  return event as AgentEvent;
}
