/** Where the CLI writes and what it knows of its surroundings; `main.ts` binds it to the process. */
export interface OutputStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Reads all of standard input (for a prompt given as `-`). */
  readStdin: () => Promise<string>;
  /** Aborted when the user interrupts (Ctrl-C). */
  signal?: AbortSignal;
}
