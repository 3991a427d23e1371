import { readFileSync } from 'node:fs';

/**
 * The script every sandbox runs, `run.sh` beside this file: clone → branch → setup → harness →
 * commit → push. It is plain bash with git, so it runs unchanged in any provider. It receives the
 * harness command as its arguments and everything else through `AGENTQ_*` variables, and reports
 * progress with marker lines: the RS byte (`\x1e`) then one JSON object with a top-level `agentq`
 * key, built only from safe values (step names, hex shas, integers, the validated branch name).
 * Everything else it prints or runs (git, setup commands, the harness) passes through
 * `stdbuf -oL tr -d '\036'`, so only its own lines start with RS (see `parseMarker`). Setup
 * commands and the harness run without git's credential variables, through `AGENTQ_JAIL` when it
 * is set, and as `AGENTQ_AGENT_USER` (`uid:gid`, via `setpriv`) when it is set and the script runs
 * as root. Commit and push use a copy of `.git` taken before any setup command, outside the working
 * tree (`<start dir>/.agentq-git`), with no global config, hooks or fsmonitor: nothing the agent
 * wrote into `.git` or its home runs as the script, and a run pushes one commit. With
 * `AGENTQ_CONTINUE_BRANCH=1` (a follow-up) the branch exists already: the run starts from its head
 * and the push adds to it (a fast-forward). The repository's setup commands (`AGENTQ_SETUP_COUNT`,
 * `AGENTQ_SETUP_0`...) each run with `bash -c` in the working tree before the harness; they are
 * never expanded by the script itself. A repository that needs credentials gets them from a
 * credential helper reading `AGENTQ_GIT_TOKEN_FILE` (see `gitCredentialEnv`): the token is never in
 * the URL, the arguments, the environment or `.git/config`.
 */

/** Exit codes of the run script (otherwise it exits with the harness's own code); `run.sh` spells them as `EXIT_*`. */
export const RUN_EXIT = {
  badArguments: 64,
  cloneFailed: 81,
  baseRefNotFound: 82,
  commitFailed: 83,
  pushFailed: 84,
  branchNotFound: 85,
  setupFailed: 86,
} as const;

/** Branch names the run script accepts (what `branchName()` produces, and more). */
export const SAFE_BRANCH = /^[A-Za-z0-9._/-]{1,200}$/;

/** The text of `run.sh`, read once: it travels to the sandbox as an argument of `bash -c`. */
export const RUN_SCRIPT = readFileSync(new URL('./run.sh', import.meta.url), 'utf8');

/** The sandbox command: the run script with the harness command as its arguments. */
export function runCommand(harnessArgv: string[]): string[] {
  return ['bash', '-c', RUN_SCRIPT, 'agentq-run', ...harnessArgv];
}

export interface RunVariables {
  taskId: string;
  repoUrl: string;
  baseRef: string | undefined;
  branch: string;
  /** The branch exists in the repository already: continue it instead of creating it from `baseRef`. */
  continueBranch?: boolean;
  prompt: string;
  gitAuthorName: string;
  gitAuthorEmail: string;
  /** `Co-authored-by` trailers of the commit: `Name <email>`. */
  coAuthors?: string[];
  /** Commands run in the working tree before the harness, in order (the repository's `setup`). */
  setup?: readonly string[];
}

/** The prompt's first non-empty line, shortened to `max` characters. */
export function promptTitle(prompt: string, max = 72): string {
  const first = prompt.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? 'agentq task';
  return first.length > max ? `${first.slice(0, max - 1).trimEnd()}…` : first;
}

/** The commit message: the prompt's first line (shortened), the task id and co-authors as trailers. */
export function commitMessage(prompt: string, taskId: string, coAuthors: string[] = []): string {
  const trailers = [`agentq-task: ${taskId}`, ...coAuthors.map((who) => `Co-authored-by: ${who.replace(/[\r\n]/g, ' ')}`)];
  return `${promptTitle(prompt)}\n\n${trailers.join('\n')}`;
}

/** The file, in the sandbox's starting directory, that holds the token git authenticates with. */
export const GIT_TOKEN_FILE = 'git-token';

/**
 * A credential helper answering git's `get` with the token in `$AGENTQ_GIT_TOKEN_FILE` (read at
 * each use, so a rewritten file takes effect at once), as GitHub expects installation tokens.
 */
export const GIT_CREDENTIAL_HELPER =
  '!f() { test "$1" = get || exit 0; printf \'username=x-access-token\\npassword=%s\\n\' "$(cat "$AGENTQ_GIT_TOKEN_FILE")"; }; f';

/**
 * The environment that makes git authenticate with the token file: the helper is given through
 * `GIT_CONFIG_*` variables (nothing is written to any git config file), after an empty
 * `credential.helper` that drops helpers configured elsewhere.
 */
export function gitCredentialEnv(tokenFile = GIT_TOKEN_FILE): Record<string, string> {
  return {
    AGENTQ_GIT_TOKEN_FILE: tokenFile,
    GIT_CONFIG_COUNT: '2',
    GIT_CONFIG_KEY_0: 'credential.helper',
    GIT_CONFIG_VALUE_0: '',
    GIT_CONFIG_KEY_1: 'credential.helper',
    GIT_CONFIG_VALUE_1: GIT_CREDENTIAL_HELPER,
  };
}

/** The variables the run script reads. */
export function runEnvironment(vars: RunVariables): Record<string, string> {
  const env: Record<string, string> = {
    AGENTQ_TASK_ID: vars.taskId,
    AGENTQ_REPO_URL: vars.repoUrl,
    AGENTQ_BRANCH: vars.branch,
    AGENTQ_COMMIT_MESSAGE: commitMessage(vars.prompt, vars.taskId, vars.coAuthors),
    AGENTQ_GIT_AUTHOR_NAME: vars.gitAuthorName,
    AGENTQ_GIT_AUTHOR_EMAIL: vars.gitAuthorEmail,
  };
  if (vars.continueBranch) env.AGENTQ_CONTINUE_BRANCH = '1';
  else if (vars.baseRef) env.AGENTQ_BASE_REF = vars.baseRef;
  const setup = vars.setup ?? [];
  if (setup.length > 0) {
    env.AGENTQ_SETUP_COUNT = String(setup.length);
    setup.forEach((command, i) => {
      env[`AGENTQ_SETUP_${i}`] = command;
    });
  }
  return env;
}
