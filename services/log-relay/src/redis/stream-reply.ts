/** One stream entry: its id and its field/value list (null when the entry was deleted). */
export interface StreamEntry {
  id: string;
  fields: string[] | null;
}

function toEntries(raw: unknown): StreamEntry[] {
  if (!Array.isArray(raw)) return [];
  const out: StreamEntry[] = [];
  for (const item of raw) {
    if (!Array.isArray(item) || typeof item[0] !== 'string') continue;
    const fields = Array.isArray(item[1]) ? (item[1] as unknown[]).map((f) => String(f)) : null;
    out.push({ id: item[0], fields });
  }
  return out;
}

/**
 * The reply of XREAD / XREADGROUP: per stream key, its entries; empty for a timeout (null). Over
 * RESP2 the reply is a list of `[key, entries]` pairs; over RESP3 it is a map, which the client
 * hands over as a flat `[key, entries, key, entries, ...]` list.
 */
export function parseReadReply(raw: unknown): Map<string, StreamEntry[]> {
  const out = new Map<string, StreamEntry[]>();
  if (!Array.isArray(raw)) return out;
  if (typeof raw[0] === 'string') {
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const key: unknown = raw[i];
      if (typeof key === 'string') out.set(key, toEntries(raw[i + 1]));
    }
    return out;
  }
  for (const stream of raw) {
    if (!Array.isArray(stream) || typeof stream[0] !== 'string') continue;
    out.set(stream[0], toEntries(stream[1]));
  }
  return out;
}

/** The reply of XRANGE. */
export function parseRangeReply(raw: unknown): StreamEntry[] {
  return toEntries(raw);
}

/** The reply of XAUTOCLAIM: the next cursor and the entries now owned by the caller. */
export function parseAutoclaimReply(raw: unknown): { next: string; entries: StreamEntry[] } {
  if (!Array.isArray(raw) || typeof raw[0] !== 'string') return { next: '0-0', entries: [] };
  return { next: raw[0], entries: toEntries(raw[1]) };
}

/** The value of `name` in a field/value list. */
export function fieldValue(fields: string[] | null, name: string): string | undefined {
  if (!fields) return undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === name) return fields[i + 1];
  }
  return undefined;
}

/** Redis reply errors start with an upper-case code (`NOGROUP`, `BUSYGROUP`, ...). */
export function redisErrorCode(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const match = /^([A-Z]+)\b/.exec(err.message);
  return match?.[1];
}
