import { EXIT } from '../exit-codes.js';

/**
 * An error the CLI reports to the user: a stable code (the API's own code for API errors,
 * `CLI_*` otherwise), a message, an optional hint, and the exit code it ends the command with.
 */
export class CliError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: number;
  /** HTTP status for API errors. */
  readonly status: number | undefined;

  constructor(code: string, message: string, options: { hint?: string; exitCode?: number; status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? EXIT.usage;
    this.status = options.status;
  }
}
