import type { IncomingHttpHeaders } from 'node:http';

/** Headers of one connection, never forwarded (RFC 9110 §7.6.1), and `host`. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);
/** The client's credentials (its task token) and what the upstream request sets itself. */
const CLIENT_ONLY = new Set(['authorization', 'x-api-key', 'content-length', 'accept-encoding', 'expect']);

function connectionListed(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Set<string> {
  const value = headers.connection;
  const list = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(list.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== ''));
}

/** The client's task token: `x-api-key` (Claude Code) or `Authorization: Bearer` (Codex). */
export function clientToken(headers: IncomingHttpHeaders): string | undefined {
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey !== '') return apiKey.trim();
  const match = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '');
  return match?.[1];
}

/**
 * The headers sent upstream: the client's, without its credentials and hop-by-hop headers, with
 * the real credential, and asking for an uncompressed answer (so its usage can be read).
 */
export function upstreamHeaders(headers: IncomingHttpHeaders, credentials: Record<string, string>): Record<string, string | string[]> {
  const listed = connectionListed(headers);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || CLIENT_ONLY.has(name) || listed.has(name)) continue;
    out[name] = value;
  }
  return { ...out, 'accept-encoding': 'identity', ...credentials };
}

/** The upstream response's headers for the client, without hop-by-hop ones. */
export function clientHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const listed = connectionListed(headers);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    out[name] = value;
  }
  return out;
}
