import { GATEWAY_TOKEN_PATTERN, REDACTED, SecretMatcher, type Redact } from '@agentq/shared';

/**
 * The dispatcher's redaction: the configured secrets, plus secrets that exist only while a task
 * runs (the installation tokens given to its sandbox). `redact` always covers what is registered at
 * the time of the call, so the task store, the output reader and the logger given it hide a token
 * from the moment it is added. Model-gateway tokens are also found by their shape
 * (`GATEWAY_TOKEN_PATTERN`): a dispatcher that re-attached to a sandbox never learned its token.
 */
export class RuntimeSecrets {
  private readonly base: SecretMatcher;
  /** Secret → how many holders registered it. */
  private readonly extra = new Map<string, number>();
  private extraMatcher = new SecretMatcher([]);

  constructor(secrets: Iterable<string | undefined>) {
    this.base = new SecretMatcher(secrets);
  }

  readonly redact: Redact = (text) => this.extraMatcher.redact(this.base.redact(text)).replace(GATEWAY_TOKEN_PATTERN, REDACTED);

  /** Whether the end of a (redacted) line could be the first piece of a secret the next line completes. */
  continues(line: string): boolean {
    return this.base.continues(line) || this.extraMatcher.continues(line);
  }

  /** Two consecutive (redacted) lines, with the pieces of a secret cut between them replaced. */
  across(first: string, second: string): [string, string] {
    return this.extraMatcher.across(...this.base.across(first, second));
  }

  add(secret: string): void {
    this.extra.set(secret, (this.extra.get(secret) ?? 0) + 1);
    this.rebuild();
  }

  remove(secret: string): void {
    const count = this.extra.get(secret);
    if (count === undefined) return;
    if (count > 1) this.extra.set(secret, count - 1);
    else this.extra.delete(secret);
    this.rebuild();
  }

  get size(): number {
    return this.extra.size;
  }

  private rebuild(): void {
    this.extraMatcher = new SecretMatcher(this.extra.keys());
  }
}
