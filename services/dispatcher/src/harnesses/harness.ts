import type { AgentEventInput, Config, HarnessName } from '@agentq/shared';

/** What a harness needs to build its command line. */
export interface HarnessContext {
  taskId: string;
  prompt: string;
  model: string | undefined;
  maxTurns: number;
  /** The task's spending limit, for harnesses with a flag of their own (it is also enforced from the stream). */
  maxCostUsd?: number;
  /** Set for a follow-up run: the agent session to resume. */
  resumeSessionId?: string;
  /** How the agent reaches its model: through the model gateway, with a token of its task. */
  gateway?: GatewayAccess;
  config: Config;
}

/** The model gateway as a task's sandbox sees it. */
export interface GatewayAccess {
  /** Base URL the sandbox reaches the gateway at (`<url>/llm/anthropic`, `<url>/llm/openai`). */
  url: string;
  /** The task's gateway token (secret). */
  token: string;
}

/** The program the run script starts in the repository's working tree, inside the sandbox. */
export interface HarnessCommand {
  argv: string[];
  /** Extra environment for the agent (not secrets: those go in `secrets`). */
  env: Record<string, string>;
  /** Environment that holds credentials (the gateway token): passed as sandbox secrets. */
  secrets?: Record<string, string>;
  /**
   * Files the program reads besides `argv[0]` (a script it runs), from configuration only: an
   * isolated `local` sandbox shows them read-only (see `SandboxSpec.readPaths`).
   */
  readPaths?: string[];
}

/** Turns the agent's output, one line at a time, into normalized events. Never throws. */
export interface OutputParser {
  parseLine(line: string): AgentEventInput[];
}

/** A coding-agent CLI adapter. */
export interface Harness {
  readonly name: HarnessName;
  command(ctx: HarnessContext): HarnessCommand;
  createParser(): OutputParser;
  /**
   * Where the agent keeps its sessions, as paths relative to its HOME. A follow-up run gets these
   * copied from the previous run's sandbox, so the session it resumes is there.
   */
  readonly sessionFiles: readonly string[];
}
