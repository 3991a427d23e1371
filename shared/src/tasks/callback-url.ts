import { isIP } from 'node:net';

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

/** An entry of `AGENTQ_CALLBACK_HOSTS`: a host name, `*.` and a domain, or an IP address. */
export function isCallbackHostPattern(pattern: string): boolean {
  const host = normalizeCallbackHost(pattern);
  return isIP(host) !== 0 || HOST_NAME.test(host);
}

/** Whether `host` is one of `patterns`; `*.example.com` matches every name under `example.com`, not `example.com` itself. */
export function callbackHostAllowed(host: string, patterns: readonly string[]): boolean {
  const wanted = normalizeCallbackHost(host);
  return patterns.some((entry) => {
    const pattern = normalizeCallbackHost(entry);
    if (pattern.startsWith('*.')) return wanted.endsWith(pattern.slice(1));
    return wanted === pattern;
  });
}

export type CallbackUrlProblemReason = 'invalid' | 'credentials' | 'insecure' | 'host_not_allowed';

export interface CallbackUrlProblem {
  reason: CallbackUrlProblemReason;
  /** Says what is wrong without repeating the URL (it may hold credentials). */
  message: string;
  /** The URL's host, when it has one. */
  host?: string;
}

/**
 * What keeps agentq from sending a completion callback to `url`, or undefined when it may: an
 * `https` URL (or `http` to a loopback host) without credentials, whose host is allowed.
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
  return undefined;
}
