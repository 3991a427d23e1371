/** What to run in a new sandbox. */
export interface SandboxSpec {
  /** The task the sandbox belongs to (one sandbox per task). */
  taskId: string;
  /** The program and its arguments, started in the sandbox's working directory. */
  command: string[];
  /** Environment of the run (not secret). */
  env: Record<string, string>;
  /** Secret environment variables (API keys); their values are redacted wherever output goes. */
  secrets: Record<string, string>;
  /** Labels used to find the sandbox again (`list`), e.g. `{ agentq_task: <id> }`. */
  tags: Record<string, string>;
  /**
   * Seeds the new sandbox's home from an earlier, ended sandbox of this provider: the given paths
   * (relative to its home; those that exist) are copied before the command starts. `create` throws
   * `InheritUnavailableError`, creating nothing, when that sandbox or all of the paths are gone.
   */
  inherit?: SandboxInheritance;
  /**
   * Private files (name → content, mode 600) put in the directory the command starts in, before
   * it starts: credentials the run reads from a file, never from its environment or arguments.
   * Names are plain file names.
   */
  files?: Record<string, string>;
  /**
   * Files and directories of the dispatcher's machine the agent's program is read from (its CLI,
   * a configured script). A `local` sandbox that isolates the agent makes them visible read-only;
   * container providers ignore them. Built from configuration only, never from the prompt.
   */
  readPaths?: string[];
  /** Container image (`docker`, `modal`); the provider's default when absent. `local` has none. */
  image?: string;
  /**
   * Domains the sandbox may reach besides the configured ones (`*.example.com` allowed). Only a
   * provider that enforces an outbound allowlist (`modal`, when one is configured) uses it.
   */
  allowedDomains?: string[];
  /**
   * Longest the sandbox may live. Providers that can end a sandbox by themselves (`modal`) do so
   * past it, so a sandbox outlives no dispatcher for long; the dispatcher enforces the task's own limit.
   */
  timeoutMs?: number;
}

export interface SandboxInheritance {
  sandboxId: string;
  /** Paths relative to the home directory, e.g. `.claude`. */
  homePaths: readonly string[];
}

/** One line of the sandbox's combined output; `line` is 1-based. */
export interface OutputLine {
  line: number;
  text: string;
}

export type SandboxStatus =
  | { state: 'running' }
  | { state: 'exited'; exitCode: number }
  /** Gone without an exit code: terminated, killed from outside, or its machine was lost. */
  | { state: 'lost' };

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** A running (or finished) sandbox. */
export interface SandboxHandle {
  readonly id: string;
  readonly provider: string;
  /**
   * The output, in chunks of complete lines, starting after the first `afterLine` lines. Ends once
   * the sandbox is no longer running and everything it wrote has been read, or when `signal` aborts.
   */
  output(afterLine: number, signal?: AbortSignal): AsyncIterable<OutputLine[]>;
  status(): Promise<SandboxStatus>;
  /** Resolves when the sandbox no longer runs. */
  wait(signal?: AbortSignal): Promise<SandboxStatus>;
  /** Stops everything the sandbox runs; resolves once that is verified. Safe to call twice. */
  terminate(): Promise<void>;
  /** Runs a command beside the main program (optional capability). */
  exec?(command: string[]): Promise<ExecResult>;
  /** Replaces one of the sandbox's private files (see `SandboxSpec.files`) atomically (optional capability). */
  writeFile?(name: string, content: string): Promise<void>;
  /** Reads one of the sandbox's private files; undefined when it is not there (optional capability). */
  readFile?(name: string): Promise<string | undefined>;
  /** The task is done with the sandbox: frees what it held. The output stays readable where the provider keeps it. */
  release(): Promise<void>;
}

export interface SandboxInfo {
  id: string;
  tags: Record<string, string>;
  status: SandboxStatus;
  /** When the sandbox was created (ISO 8601), where the provider knows it. */
  createdAt?: string;
}

/**
 * Where agents run: `local` (process groups), `docker` (containers) or `modal` (Modal Sandboxes).
 * Every provider passes the contract suite in `test/provider-contract.ts`.
 *
 * Errors are `DispatchError`s (`dispatch-errors.ts`) with stable codes, of their own class where
 * the dispatcher decides by kind: `SandboxExistsError` (the task has a sandbox already: it is
 * re-attached to), `InheritUnavailableError` (a new session starts instead), `ProviderUnavailableError`
 * (the engine or service cannot be reached, is rate limiting or failed: temporary, the job is
 * retried), `TerminateFailedError`; else `DISPATCH_BAD_SANDBOX_SPEC` / `DISPATCH_BAD_SANDBOX_ID` (bad
 * input, nothing created), `DISPATCH_IMAGE_NOT_FOUND` (the image cannot be pulled: the task fails),
 * `DISPATCH_SANDBOX_FAILED` (anything else).
 */
export interface SandboxProvider {
  readonly name: string;
  /** How the agent is kept from the rest of the machine, where the provider can choose (`local`: `bwrap` or `none`, and why). */
  readonly isolation?: { mode: string; note?: string };
  create(spec: SandboxSpec): Promise<SandboxHandle>;
  /** Re-attaches to a sandbox created earlier (after a dispatcher restart); undefined when it is unknown. */
  attach(sandboxId: string): Promise<SandboxHandle | undefined>;
  /** Sandboxes whose tags include all the given ones (to find orphans). */
  list(tags: Record<string, string>): Promise<SandboxInfo[]>;
  /**
   * Deletes everything left of an ended sandbox (what `release` kept: its home, its output).
   * Terminates it first if it still runs. Unknown ids are ignored.
   */
  remove(sandboxId: string): Promise<void>;
  /** Closes the provider's connections (at shutdown); sandboxes keep running. Optional. */
  close?(): Promise<void>;
}
