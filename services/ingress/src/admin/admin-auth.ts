import { createHmac, hash, timingSafeEqual } from 'node:crypto';

/** The cookie a browser signed in to the operators' pages holds. */
export const ADMIN_COOKIE = 'agentq_admin';
/** How long a sign-in lasts. */
export const ADMIN_SESSION_SEC = 12 * 3600;

const BEARER = /^Bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i;
const COOKIE_VALUE = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The admin tokens (`AGENTQ_ADMIN_TOKENS`), and the sessions of browsers signed in with one. A
 * session cookie is `<expiry>.<HMAC-SHA256 keyed by the token over the expiry>`: it holds no token,
 * needs no server-side state (every ingress replica accepts it), lapses at its expiry, and stops
 * working once its token is removed from the configuration.
 */
export class AdminAuth {
  private readonly digests: string[];

  constructor(
    private readonly tokens: readonly string[],
    private readonly now: () => number = Date.now,
  ) {
    this.digests = tokens.map((token) => hash('sha256', token, 'hex'));
  }

  /** Is this one of the admin tokens? Compared as digests, in the same time whatever it holds. */
  isToken(token: string): boolean {
    const given = hash('sha256', token, 'hex');
    let found = false;
    for (const digest of this.digests) found = same(digest, given) || found;
    return found;
  }

  /** An `Authorization: Bearer` header carrying an admin token. */
  isBearer(header: string | undefined): boolean {
    const token = header ? BEARER.exec(header)?.[1] : undefined;
    return token !== undefined && this.isToken(token);
  }

  /** The cookie value of a new session for `token` (an admin token). */
  session(token: string): string {
    const expires = Math.floor(this.now() / 1000) + ADMIN_SESSION_SEC;
    return `${expires}.${this.mac(token, expires)}`;
  }

  /** Is this cookie value a live session of one of the admin tokens? */
  isSession(value: string | undefined): boolean {
    const match = value ? COOKIE_VALUE.exec(value) : null;
    if (!match?.[1] || !match[2]) return false;
    const expires = Number(match[1]);
    if (expires * 1000 <= this.now()) return false;
    let found = false;
    for (const token of this.tokens) found = same(this.mac(token, expires), match[2]) || found;
    return found;
  }

  private mac(token: string, expires: number): string {
    return createHmac('sha256', token).update(`agentq-admin-session:${expires}`).digest('base64url');
  }
}

/** The value of one cookie of a `Cookie` header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
