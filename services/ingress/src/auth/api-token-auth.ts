import { hash } from 'node:crypto';
import { DEFAULT_TEAM, type ApiToken } from '@agentq/shared';
import { ingressError } from '../http/ingress-errors.js';

/** Who is calling: the team of the API token. The `default` team sees every team's tasks. */
export interface Principal {
  team: string;
  /** True for `default`-team tokens: they see all tasks and may import repositories. */
  admin: boolean;
}

const BEARER = /^Bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i;

function digest(token: string): string {
  return hash('sha256', token, 'hex');
}

/**
 * Resolves `Authorization: Bearer <token>` to a team. Tokens are kept and compared only as
 * SHA-256 digests, so the lookup takes the same time whatever the token's prefix.
 */
export class ApiTokenAuth {
  private readonly teams = new Map<string, string>();

  constructor(tokens: readonly ApiToken[]) {
    for (const { token, team } of tokens) this.teams.set(digest(token), team);
  }

  /** The principal, or an `INGRESS_UNAUTHORIZED` error (status 401). */
  authenticate(header: string | undefined): Principal {
    if (!header) throw ingressError('INGRESS_UNAUTHORIZED', 'missing bearer token', { details: { reason: 'missing' } });
    const match = BEARER.exec(header);
    const team = match?.[1] ? this.teams.get(digest(match[1])) : undefined;
    if (team === undefined) {
      throw ingressError('INGRESS_UNAUTHORIZED', 'invalid bearer token', { details: { reason: 'invalid' } });
    }
    return { team, admin: team === DEFAULT_TEAM };
  }
}

/** The `WWW-Authenticate` header for a 401. */
export function wwwAuthenticate(reason: unknown): string {
  return reason === 'invalid' ? 'Bearer realm="agentq", error="invalid_token"' : 'Bearer realm="agentq"';
}
