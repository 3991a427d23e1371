import { isIP } from 'node:net';
import { callbackAddressProblem } from './callback-address.js';

/** Hosts a callback may reach over plain `http` (the same machine: tests, sidecars). */
export const LOOPBACK_CALLBACK_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '::1'];

const HOST_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A host as compared: lower case, IPv6 without brackets, no trailing dot. */
export function normalizeCallbackHost(host: string): string {
  let out = host.trim().toLowerCase();
  if (out.startsWith('[') && out.endsWith(']')) out = out.slice(1, -1);
  if (out.endsWith('.') && !out.includes(':')) out = out.slice(0, -1);
  return out;
}

/** The port a URL of this scheme reaches when it names none. */
export function defaultPort(protocol: string): number {
  return protocol === 'http:' ? 80 : 443;
}

/** An entry of `AGENTQ_CALLBACK_HOSTS`, split: its host, and the port it allows (`*`: any; undefined: the scheme's default). */
export interface CallbackHostEntry {
  host: string;
  port?: number | '*';
}

/**
 * Reads an entry of `AGENTQ_CALLBACK_HOSTS`: `host`, `host:port` or `host:*` (any port); IPv6
 * addresses with a port in brackets (`[::1]:8443`). Undefined when it is not one.
 */
export function parseCallbackHostEntry(entry: string): CallbackHostEntry | undefined {
  const text = entry.trim().toLowerCase();
  let host = text;
  let port: number | '*' | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}|\*))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1] ?? '';
    if (bracketed[2] !== undefined) port = bracketed[2] === '*' ? '*' : Number(bracketed[2]);
  } else if (isIP(text) === 0) {
    const withPort = /^(.+):(\d{1,5}|\*)$/.exec(text);
    if (withPort) {
      host = withPort[1] ?? '';
      // an IPv6 address takes its port in brackets only
      if (host.includes(':')) return undefined;
      port = withPort[2] === '*' ? '*' : Number(withPort[2]);
    }
  }
  if (typeof port === 'number' && (port < 1 || port > 65_535)) return undefined;
  host = normalizeCallbackHost(host);
  if (bracketed && isIP(host) !== 6) return undefined;
  if (isIP(host) === 0 && !HOST_NAME.test(host)) return undefined;
  return port === undefined ? { host } : { host, port };
}

/** An entry of `AGENTQ_CALLBACK_HOSTS`: a host name, `*.` and a domain, or an IP address; optionally `:port` or `:*`. */
export function isCallbackHostPattern(pattern: string): boolean {
  return parseCallbackHostEntry(pattern) !== undefined;
}

function hostMatches(wanted: string, pattern: string): boolean {
  if (pattern.startsWith('*.')) return wanted.endsWith(pattern.slice(1));
  return wanted === pattern;
}

/** Whether `host` is one of `patterns` (any port); `*.example.com` matches every name under `example.com`, not `example.com` itself. */
export function callbackHostAllowed(host: string, patterns: readonly string[]): boolean {
  const wanted = normalizeCallbackHost(host);
  return patterns.some((entry) => {
    const parsed = parseCallbackHostEntry(entry);
    return parsed !== undefined && hostMatches(wanted, parsed.host);
  });
}

/** Whether `host` on `port` is allowed: an entry of the host that names the port or `*`, or names none and the port is the scheme's default. */
export function callbackPortAllowed(host: string, port: number, protocol: string, patterns: readonly string[]): boolean {
  const wanted = normalizeCallbackHost(host);
  return patterns.some((entry) => {
    const parsed = parseCallbackHostEntry(entry);
    if (parsed === undefined || !hostMatches(wanted, parsed.host)) return false;
    if (parsed.port === '*') return true;
    return port === (parsed.port ?? defaultPort(protocol));
  });
}

export type CallbackUrlProblemReason = 'invalid' | 'credentials' | 'insecure' | 'host_not_allowed' | 'port' | 'address';

export interface CallbackUrlProblem {
  reason: CallbackUrlProblemReason;
  /** Says what is wrong without repeating the URL (it may hold credentials). */
  message: string;
  /** The URL's host, when it has one. */
  host?: string;
}

/**
 * What keeps agentq from sending a completion callback to `url`, or undefined when it may: an
 * `https` URL (or `http` to a loopback host) without credentials, whose host is allowed, on the
 * scheme's default port (443, 80) or one `AGENTQ_CALLBACK_HOSTS` names for that host. An IP
 * address as the host must not be private, link-local or loopback (but `127.0.0.1` and `::1`).
 */
export function callbackUrlProblem(url: string, allowedHosts: readonly string[]): CallbackUrlProblem | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { reason: 'invalid', message: 'callbackUrl is not a URL' };
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    return { reason: 'invalid', message: 'callbackUrl must be an https:// URL' };
  }
  const host = normalizeCallbackHost(parsed.hostname);
  if (parsed.username !== '' || parsed.password !== '') {
    return { reason: 'credentials', message: 'callbackUrl must not carry credentials (user:password@); verify the X-Agentq-Signature instead', host };
  }
  if (parsed.protocol === 'http:' && !LOOPBACK_CALLBACK_HOSTS.includes(host)) {
    return { reason: 'insecure', message: 'callbackUrl must be https:// (http:// only for localhost, 127.0.0.1 and ::1)', host };
  }
  if (!callbackHostAllowed(host, allowedHosts)) {
    return { reason: 'host_not_allowed', message: `callbacks may not go to ${host}: it is not in AGENTQ_CALLBACK_HOSTS`, host };
  }
  const addressProblem = isIP(host) === 0 ? undefined : callbackAddressProblem(host, LOOPBACK_CALLBACK_HOSTS.includes(host));
  if (addressProblem) {
    return { reason: 'address', message: `callbacks may not go to ${host}: it is a ${addressProblem} address`, host };
  }
  const port = parsed.port === '' ? defaultPort(parsed.protocol) : Number(parsed.port);
  if (!callbackPortAllowed(host, port, parsed.protocol, allowedHosts)) {
    return {
      reason: 'port',
      message: `callbacks may not go to port ${port} of ${host}: only ${defaultPort(parsed.protocol)} unless AGENTQ_CALLBACK_HOSTS names the port (${host}:${port})`,
      host,
    };
  }
  return undefined;
}
