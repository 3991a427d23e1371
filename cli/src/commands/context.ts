import { ApiClient } from '../api/api-client.js';
import { resolveConnection, type ConnectionOptions } from '../api/connection.js';
import type { CliIo } from '../io.js';
import { createStyle, type Style } from '../render/style.js';

/** What every command gets: the I/O, styles, and the API client built from the global options. */
export class CommandContext {
  /** The exit code the command ends with (set by the command). */
  exitCode = 0;
  readonly style: Style;
  readonly errStyle: Style;

  constructor(
    readonly io: CliIo,
    private readonly globalOptions: () => ConnectionOptions,
  ) {
    this.style = createStyle(io.stdout, io.env);
    this.errStyle = createStyle(io.stderr, io.env);
  }

  client(): ApiClient {
    return new ApiClient(resolveConnection(this.globalOptions(), this.io.env, this.io.cwd), this.io.signal);
  }

  out(text: string): void {
    this.io.stdout.write(text);
  }

  json(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }
}
