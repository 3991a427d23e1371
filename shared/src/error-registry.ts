import { AgentqError } from './errors.js';

/** What one error code means, and the HTTP status it answers with where it is an HTTP answer. */
export interface ErrorSpec {
  /** HTTP status (codes of the HTTP API; others default to 500 when thrown). */
  status?: number;
  /** One sentence for the docs: when the code is used and what to do about it. */
  meaning: string;
}

/** Every code of one service, typed: a code not in its registry does not compile. */
export type ErrorRegistry<Code extends string = string> = Readonly<Record<Code, ErrorSpec>>;

/** Declares a service's registry; the codes become a literal union (`keyof typeof registry`). */
export function defineErrors<const Code extends string>(registry: Record<Code, ErrorSpec>): ErrorRegistry<Code> {
  for (const [code, spec] of Object.entries<ErrorSpec>(registry)) {
    if (!/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/.test(code)) throw new Error(`error code ${code} is not UPPER_SNAKE_CASE with a service prefix`);
    if (!spec.meaning.trim()) throw new Error(`error code ${code} has no meaning`);
  }
  return registry;
}

export interface RegistryErrorOptions {
  details?: Record<string, unknown>;
  cause?: unknown;
}

/**
 * An error of a registry's code, with the code's HTTP status: the base of a service's error
 * classes (its name is the subclass's).
 */
export class RegistryError<Code extends string = string> extends AgentqError {
  declare readonly code: Code;

  constructor(registry: ErrorRegistry<Code>, code: Code, message: string, options: RegistryErrorOptions = {}) {
    super(code, message, { status: registry[code].status, ...options });
    this.name = new.target.name;
  }
}

/** An error of a registry's code, with the code's HTTP status. */
export function registryError<Code extends string>(registry: ErrorRegistry<Code>, code: Code, message: string, options: RegistryErrorOptions = {}): RegistryError<Code> {
  return new RegistryError(registry, code, message, options);
}

/** The docs' table of a registry, sorted by code (generated, checked by a test). */
export function errorTable(registry: ErrorRegistry, options: { status?: boolean } = {}): string {
  const rows = Object.entries<ErrorSpec>(registry)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([code, spec]) => (options.status ? `| \`${code}\` | ${spec.status ?? '—'} | ${spec.meaning} |` : `| \`${code}\` | ${spec.meaning} |`));
  const head = options.status ? ['| Code | HTTP | Meaning |', '|---|---|---|'] : ['| Code | Meaning |', '|---|---|'];
  return [...head, ...rows].join('\n');
}
