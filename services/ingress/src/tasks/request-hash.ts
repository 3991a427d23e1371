import { hash } from 'node:crypto';

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = canonical(v);
    }
    return out;
  }
  return value;
}

/** SHA-256 of a request with its keys sorted: the same request hashes the same whatever the key order. */
export function requestHash(request: unknown): string {
  return `sha256:${hash('sha256', JSON.stringify(canonical(request)), 'hex')}`;
}
