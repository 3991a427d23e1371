import { errorMessage, type GitHubApp, type Logger, type RepoToken } from '@agentq/shared';
import type { RuntimeSecrets } from '../runtime-secrets.js';

/** A token is replaced this long before it expires (installation tokens last an hour). */
export const TOKEN_REFRESH_MARGIN_MS = 10 * 60_000;
/** Least time between two refreshes, and the wait before retrying a failed one. */
const MIN_REFRESH_MS = 200;
const RETRY_MS = 15_000;

export interface TokenKeeperOptions {
  app: GitHubApp;
  repo: string;
  issues: boolean;
  secrets: RuntimeSecrets;
  logger: Logger;
  refreshMarginMs?: number;
}

/**
 * The installation token of one task's run: minted just in time, registered with the redactor
 * before anyone sees it, and replaced before it expires for as long as the run lasts (each new
 * token is handed to `write`, e.g. to rewrite the sandbox's token file). Tokens are removed from
 * the redactor when the keeper stops.
 */
export class TokenKeeper {
  private readonly tokens: string[] = [];
  private current: RepoToken | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private write: ((token: string) => Promise<void>) | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(private readonly options: TokenKeeperOptions) {}

  /** A fresh token (registered with the redactor). */
  async mint(): Promise<RepoToken> {
    const token = await this.options.app.repoToken(this.options.repo, { issues: this.options.issues });
    this.remember(token.token);
    this.current = token;
    return token;
  }

  /** A secret the run may have seen (an earlier token read back from a sandbox): redacted until `stop`. */
  remember(secret: string): void {
    if (this.stopped || secret.length === 0) return;
    this.options.secrets.add(secret);
    this.tokens.push(secret);
  }

  /**
   * The sandbox holds a token minted elsewhere (`secret`, when it could be read): it is redacted
   * until `stop`, and `keepFresh` replaces it at once, its expiry being unknown.
   */
  adopt(secret: string | undefined): void {
    this.current = undefined;
    if (secret) this.remember(secret);
  }

  /** Keeps the token fresh, giving each new one to `write`; mints one at once when there is none. */
  keepFresh(write: (token: string) => Promise<void>): void {
    this.write = write;
    if (this.current) this.schedule();
    else this.refresh();
  }

  private schedule(): void {
    if (this.stopped || !this.current) return;
    const margin = this.options.refreshMarginMs ?? TOKEN_REFRESH_MARGIN_MS;
    const delay = Math.max(MIN_REFRESH_MS, this.current.expiresAt.getTime() - margin - Date.now());
    this.arm(delay);
  }

  private arm(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), delayMs);
    this.timer.unref();
  }

  private refresh(): void {
    if (this.stopped || this.refreshing) return;
    this.refreshing = (async () => {
      try {
        const token = await this.mint();
        if (this.stopped) return;
        await this.write?.(token.token);
        this.options.logger.debug({ expiresAt: token.expiresAt.toISOString() }, 'github token refreshed');
        this.schedule();
      } catch (err) {
        this.options.logger.warn({ err: this.options.secrets.redact(errorMessage(err)) }, 'github token refresh failed');
        if (!this.stopped) this.arm(RETRY_MS);
      } finally {
        this.refreshing = undefined;
      }
    })();
  }

  /** Stops refreshing and forgets the tokens (they are no longer redacted). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.refreshing;
    for (const token of this.tokens.splice(0)) this.options.secrets.remove(token);
  }
}
