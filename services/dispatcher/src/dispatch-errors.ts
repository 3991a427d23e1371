import { AgentqError, RegistryError, defineErrors, errorMessage, type RegistryErrorOptions, type TaskError } from '@agentq/shared';

/**
 * Every code the dispatcher uses. A failed task carries one in `error.code` (a public API: the
 * task record, callbacks, Slack, the CLI); clients branch on these, never on messages. Codes marked
 * internal are decided on inside the dispatcher and do not end a task by themselves.
 */
export const DISPATCH_ERRORS = defineErrors({
  DISPATCH_AGENT_FAILED: { meaning: 'the agent reported failure or exited non-zero; the message is the agent\'s own reason (e.g. the API error) or its last output lines' },
  DISPATCH_CLONE_FAILED: { meaning: 'the repository could not be cloned, or the task\'s branch could not be created in the clone' },
  DISPATCH_BASE_REF_NOT_FOUND: { meaning: '`baseRef` is not in the repository' },
  DISPATCH_BRANCH_NOT_FOUND: { meaning: 'the branch a follow-up (or a task from a pull request) continues is gone' },
  DISPATCH_COMMIT_FAILED: { meaning: 'the changes could not be committed' },
  DISPATCH_PUSH_FAILED: { meaning: 'the changes could not be pushed (a push counts only once the branch is seen at the commit in the forge); the commit and diff stat stay on the record' },
  DISPATCH_SETUP_FAILED: { meaning: 'a setup command of the repository\'s `.agentq.yml` exited non-zero; the message names the command\'s number, its exit code and the last output lines; the agent did not run' },
  DISPATCH_UNKNOWN_REPO: { meaning: 'the repository is not in the local forge, and no GitHub App is configured to reach it on GitHub' },
  DISPATCH_UNKNOWN_HARNESS: { meaning: 'the harness the task (or `.agentq.yml`) names does not exist on the dispatcher' },
  DISPATCH_HARNESS_NOT_CONFIGURED: { meaning: 'the task asks for the `command` harness and `AGENTQ_HARNESS_COMMAND` is unset (or not a readable command line) on the dispatcher' },
  DISPATCH_FORGE_UNREACHABLE: { meaning: 'the repository is in the local forge, which `docker` and `modal` sandboxes cannot reach' },
  DISPATCH_REPO_CONFIG_INVALID: { meaning: 'the repository\'s `.agentq.yml` is too large, not YAML, or not valid; the message lists every problem (`.agentq.yml: setup[1]: expected a string`); no sandbox was created' },
  DISPATCH_REPO_CONFIG_UNREADABLE: { meaning: 'the repository\'s `.agentq.yml` could not be read from the local forge (on GitHub that is `DISPATCH_GITHUB_API_ERROR`)' },
  DISPATCH_GITHUB_NOT_INSTALLED: { meaning: 'the GitHub App is not installed on the repository (or has no access to it)' },
  DISPATCH_GITHUB_TOKEN_FAILED: { meaning: 'an installation token for the repository could not be minted' },
  DISPATCH_GITHUB_API_ERROR: { meaning: 'GitHub\'s API failed while the run was prepared (looking up the App\'s installation or bot identity, or reading `.agentq.yml`), or when the pushed branch was looked up there afterwards (a push counts only once GitHub shows the branch at the commit)' },
  DISPATCH_GITHUB_PR_FAILED: { meaning: 'the branch was pushed but the pull request could not be opened (the pushed branch and commit stay on the record)' },
  DISPATCH_TIMEOUT: { meaning: 'the task ran past its time limit (`timed_out`)' },
  DISPATCH_BUDGET_EXCEEDED: { meaning: 'the task ran out of money while it ran: its cost (what the model gateway metered, or what the agent reported, whichever is more) went over its `limits.maxCostUsd`, or the gateway refused a model call because the team reached its `AGENTQ_TEAM_DAILY_USD` for the day; the sandbox was stopped at once; the message names the limit (task or team) and the spend' },
  DISPATCH_SANDBOX_LOST: { meaning: 'the sandbox disappeared without an exit code (terminated from outside, or its machine was lost), or a dispatcher that took the task over found no sandbox to re-attach to' },
  DISPATCH_RUN_INTERRUPTED: { meaning: 'the run\'s output said it had finished (pushed, or found no changes) but the run script itself ended with another exit code than 0: it was killed, so its output is not believed (where the agent\'s output is filtered it cannot print the run script\'s lines: a run script it kills then ends the task with `DISPATCH_SANDBOX_FAILED`)' },
  DISPATCH_SANDBOX_FAILED: { meaning: 'the sandbox could not be created or started, a provider operation on it failed, or the run ended before it finished (the message gives the exit code and last output lines when there are some)' },
  DISPATCH_IMAGE_NOT_FOUND: { meaning: 'the sandbox image (`AGENTQ_SANDBOX_IMAGE`, or `image` in `.agentq.yml`) cannot be pulled (`docker`, `modal`)' },
  DISPATCH_PROVIDER_UNAVAILABLE: { meaning: 'the Docker engine or Modal could not be reached, was rate limiting or failing, through all of the job\'s retries' },
  DISPATCH_BAD_SANDBOX_SPEC: { meaning: 'the sandbox could not be described to the provider (a variable, file, tag or domain it refuses); nothing was created' },
  DISPATCH_BAD_SANDBOX_ID: { meaning: 'a sandbox id (or the task id a `modal` sandbox is named after) that is not one of the provider\'s (internal: a provider refuses it before calling its backend)' },
  DISPATCH_SANDBOX_EXISTS: { meaning: 'the task has a sandbox already (internal: the dispatcher then re-attaches to it)' },
  DISPATCH_INHERIT_UNAVAILABLE: { meaning: 'the earlier sandbox whose agent session a follow-up resumes is gone (internal: the follow-up then starts a new session, and says so)' },
  DISPATCH_TERMINATE_FAILED: { meaning: 'a sandbox could not be verified to have stopped (internal: logged; the task\'s end is recorded anyway, and the sweeper terminates a sandbox it finds running for a finished task)' },
  DISPATCH_ISOLATION_UNAVAILABLE: { meaning: '`AGENTQ_LOCAL_ISOLATION=bwrap` and bubblewrap is not installed or does not work on this machine (internal: the dispatcher does not start; the message gives bwrap\'s own error)' },
  DISPATCH_INTERNAL: { meaning: 'an unexpected error that persisted through the job\'s retries (one with a code outside this table gives that code at the start of the message), or a state that should not occur (a branch name that cannot be derived)' },
});

export type DispatchErrorCode = keyof typeof DISPATCH_ERRORS;

export function isDispatchErrorCode(code: string): code is DispatchErrorCode {
  return Object.hasOwn(DISPATCH_ERRORS, code);
}

type DispatchErrorOptions = RegistryErrorOptions;

/** An error of one of the dispatcher's codes. */
export class DispatchError extends RegistryError<DispatchErrorCode> {
  constructor(code: DispatchErrorCode, message: string, options: DispatchErrorOptions = {}) {
    super(DISPATCH_ERRORS, code, message, options);
  }
}

/** `DISPATCH_PROVIDER_UNAVAILABLE`: temporary, the job is tried again later. */
export class ProviderUnavailableError extends DispatchError {
  constructor(message: string, options?: DispatchErrorOptions) {
    super('DISPATCH_PROVIDER_UNAVAILABLE', message, options);
  }
}

/** `DISPATCH_SANDBOX_EXISTS`: the task has a sandbox already, which is re-attached to. */
export class SandboxExistsError extends DispatchError {
  constructor(message: string, options?: DispatchErrorOptions) {
    super('DISPATCH_SANDBOX_EXISTS', message, options);
  }
}

/** `DISPATCH_INHERIT_UNAVAILABLE`: the earlier sandbox's session files are gone; a new session starts. */
export class InheritUnavailableError extends DispatchError {
  constructor(message: string, options?: DispatchErrorOptions) {
    super('DISPATCH_INHERIT_UNAVAILABLE', message, options);
  }
}

/** `DISPATCH_TERMINATE_FAILED`: a sandbox could not be verified to have stopped. */
export class TerminateFailedError extends DispatchError {
  constructor(message: string, options?: DispatchErrorOptions) {
    super('DISPATCH_TERMINATE_FAILED', message, options);
  }
}

/** The codes the dispatcher decides on by kind (`instanceof`), each with its class. */
const KINDS: Partial<Record<DispatchErrorCode, new (message: string, options?: DispatchErrorOptions) => DispatchError>> = {
  DISPATCH_PROVIDER_UNAVAILABLE: ProviderUnavailableError,
  DISPATCH_SANDBOX_EXISTS: SandboxExistsError,
  DISPATCH_INHERIT_UNAVAILABLE: InheritUnavailableError,
  DISPATCH_TERMINATE_FAILED: TerminateFailedError,
};

/** An error of one of the dispatcher's codes; of its class when the code has one. */
export function dispatchError(code: DispatchErrorCode, message: string, options: DispatchErrorOptions = {}): DispatchError {
  const Kind = KINDS[code];
  return Kind ? new Kind(message, options) : new DispatchError(code, message, options);
}

/** A task's `error` as the dispatcher records it: always one of its codes. */
export interface DispatchTaskError extends TaskError {
  code: DispatchErrorCode;
}

export function taskError(code: DispatchErrorCode, message: string): DispatchTaskError {
  return { code, message };
}

/**
 * The task error of anything thrown: its code when it is one of the dispatcher's, else
 * `DISPATCH_INTERNAL`, with the error's own code (if it has one) at the start of the message.
 */
export function taskErrorOf(err: unknown): DispatchTaskError {
  if (err instanceof AgentqError) {
    return isDispatchErrorCode(err.code) ? taskError(err.code, err.message) : taskError('DISPATCH_INTERNAL', `${err.code}: ${err.message}`);
  }
  return taskError('DISPATCH_INTERNAL', errorMessage(err));
}
