/**
 * The script every sandbox runs: clone → branch → setup → harness → commit → push. It is plain bash with
 * git, so it runs unchanged in any provider. It receives the harness command as its arguments and
 * everything else through `AGENTQ_*` variables, and reports progress with marker lines: one JSON
 * object per line with a top-level `agentq` key, built only from safe values (step names, hex
 * shas, integers, the validated branch name). With `AGENTQ_CONTINUE_BRANCH=1` (a follow-up) the
 * branch exists already: the run starts from its head and the push adds to it (a fast-forward).
 * The repository's setup commands (`AGENTQ_SETUP_COUNT`, `AGENTQ_SETUP_0`...) each run with
 * `bash -c` in the working tree before the harness; they are never expanded by the script itself.
 * A repository that needs credentials gets them from a credential helper reading
 * `AGENTQ_GIT_TOKEN_FILE` (see `gitCredentialEnv`): the token is never in the URL, the arguments,
 * the environment or `.git/config`.
 */

/** Exit codes of the run script (otherwise it exits with the harness's own code). */
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

export const RUN_SCRIPT = `set -u
set -o pipefail
export GIT_TERMINAL_PROMPT=0
marker() { printf '{"agentq":%s}\\n' "$1"; }
is_sha() { [[ "$1" =~ ^[0-9a-f]{40}([0-9a-f]{24})?$ ]]; }
is_int() { [[ "$1" =~ ^[0-9]+$ ]]; }

if [[ ! "\${AGENTQ_BRANCH:-}" =~ ^[A-Za-z0-9._/-]{1,200}$ || "\${AGENTQ_BRANCH}" == -* || "\${AGENTQ_BRANCH}" == *..* ]]; then
  echo "agentq-run: AGENTQ_BRANCH is missing or not a safe branch name" >&2; exit ${RUN_EXIT.badArguments}
fi
if [[ -z "\${AGENTQ_REPO_URL:-}" || $# -eq 0 ]]; then
  echo "agentq-run: usage: AGENTQ_REPO_URL=... AGENTQ_BRANCH=... agentq-run <harness command...>" >&2; exit ${RUN_EXIT.badArguments}
fi
branch=$AGENTQ_BRANCH
base_ref=\${AGENTQ_BASE_REF:-}
continue_branch=\${AGENTQ_CONTINUE_BRANCH:-}
workdir=\${AGENTQ_WORKDIR:-repo}
author_name=\${AGENTQ_GIT_AUTHOR_NAME:-agentq}
author_email=\${AGENTQ_GIT_AUTHOR_EMAIL:-agentq@localhost}
message=\${AGENTQ_COMMIT_MESSAGE:-agentq task}
setup_count=\${AGENTQ_SETUP_COUNT:-0}
if ! is_int "$setup_count"; then
  echo "agentq-run: AGENTQ_SETUP_COUNT is not a number" >&2; exit ${RUN_EXIT.badArguments}
fi
setup_count=$((10#$setup_count))
for (( i = 0; i < setup_count; i++ )); do
  setup_var="AGENTQ_SETUP_$i"
  if [[ -z "\${!setup_var:-}" ]]; then
    echo "agentq-run: $setup_var is missing" >&2; exit ${RUN_EXIT.badArguments}
  fi
done
# the credential helper reads the token file from wherever git runs: its path must be absolute
if [[ -n "\${AGENTQ_GIT_TOKEN_FILE:-}" && "$AGENTQ_GIT_TOKEN_FILE" != /* ]]; then
  export AGENTQ_GIT_TOKEN_FILE="$PWD/$AGENTQ_GIT_TOKEN_FILE"
fi

marker '{"step":"clone"}'
if ! git clone --no-tags --quiet -- "$AGENTQ_REPO_URL" "$workdir" 2>&1; then
  marker '{"git":"clone","ok":false,"reason":"clone"}'; exit ${RUN_EXIT.cloneFailed}
fi
cd -- "$workdir" || { marker '{"git":"clone","ok":false,"reason":"clone"}'; exit ${RUN_EXIT.cloneFailed}; }
if [[ "$continue_branch" == 1 ]]; then
  base=$(git rev-parse --verify --quiet "refs/remotes/origin/$branch^{commit}") || base=""
  if ! is_sha "$base"; then
    marker '{"git":"clone","ok":false,"reason":"branch"}'; exit ${RUN_EXIT.branchNotFound}
  fi
elif [[ -n "$base_ref" ]]; then
  base=""
  if [[ "$base_ref" != -* && "$base_ref" != *..* ]]; then
    base=$(git rev-parse --verify --quiet "refs/remotes/origin/$base_ref^{commit}") ||
    base=$(git fetch --quiet --no-tags origin "+refs/tags/$base_ref:refs/tags/$base_ref" 2>/dev/null && git rev-parse --verify --quiet "refs/tags/$base_ref^{commit}") ||
    base=$(git rev-parse --verify --quiet "$base_ref^{commit}") ||
    base=""
  fi
else
  base=$(git rev-parse --verify --quiet "HEAD^{commit}") || base=""
fi
if ! is_sha "$base"; then
  marker '{"git":"clone","ok":false,"reason":"base_ref"}'; exit ${RUN_EXIT.baseRefNotFound}
fi
default_branch=$(git symbolic-ref --quiet --short refs/remotes/origin/HEAD 2>/dev/null) || default_branch=""
default_branch=\${default_branch#origin/}
if [[ "$default_branch" =~ ^[A-Za-z0-9._/-]{1,200}$ && "$default_branch" != -* && "$default_branch" != *..* ]]; then
  marker "{\\"git\\":\\"clone\\",\\"ok\\":true,\\"baseCommit\\":\\"$base\\",\\"defaultBranch\\":\\"$default_branch\\"}"
else
  marker "{\\"git\\":\\"clone\\",\\"ok\\":true,\\"baseCommit\\":\\"$base\\"}"
fi
if ! git checkout --quiet -b "$branch" "$base" 2>&1; then
  marker '{"git":"branch","ok":false}'; exit ${RUN_EXIT.cloneFailed}
fi
if [[ "$continue_branch" == 1 ]]; then
  marker "{\\"git\\":\\"branch\\",\\"ok\\":true,\\"branch\\":\\"$branch\\",\\"continued\\":true}"
else
  marker "{\\"git\\":\\"branch\\",\\"ok\\":true,\\"branch\\":\\"$branch\\"}"
fi

if (( setup_count > 0 )); then
  marker '{"step":"setup"}'
  for (( i = 0; i < setup_count; i++ )); do
    setup_var="AGENTQ_SETUP_$i"
    printf '$ %s\\n' "\${!setup_var}"
    bash -c "\${!setup_var}" < /dev/null
    code=$?
    marker "{\\"setup\\":\\"exit\\",\\"index\\":$i,\\"count\\":$setup_count,\\"code\\":$code}"
    if [[ $code -ne 0 ]]; then exit ${RUN_EXIT.setupFailed}; fi
  done
fi

marker '{"step":"agent"}'
"$@" < /dev/null
code=$?
marker "{\\"agent\\":\\"exit\\",\\"code\\":$code}"
if [[ $code -ne 0 ]]; then exit "$code"; fi

marker '{"step":"commit"}'
if ! git add -A 2>&1; then marker '{"git":"commit","ok":false}'; exit ${RUN_EXIT.commitFailed}; fi
if ! git diff --cached --quiet 2>/dev/null; then
  if ! git -c "user.name=$author_name" -c "user.email=$author_email" commit --quiet --no-verify -F - <<<"$message" 2>&1; then
    marker '{"git":"commit","ok":false}'; exit ${RUN_EXIT.commitFailed}
  fi
fi
head=$(git rev-parse --verify --quiet "HEAD^{commit}") || head=""
if ! is_sha "$head"; then marker '{"git":"commit","ok":false}'; exit ${RUN_EXIT.commitFailed}; fi
if [[ "$head" == "$base" ]]; then
  marker '{"git":"no_changes","ok":true}'; exit 0
fi
files=0; insertions=0; deletions=0
while IFS=$'\\t' read -r added removed _; do
  files=$((files + 1))
  if is_int "$added"; then insertions=$((insertions + added)); fi
  if is_int "$removed"; then deletions=$((deletions + removed)); fi
done < <(git diff --numstat "$base" "$head")
marker "{\\"git\\":\\"commit\\",\\"ok\\":true,\\"commit\\":\\"$head\\",\\"diffStat\\":{\\"files\\":$files,\\"insertions\\":$insertions,\\"deletions\\":$deletions}}"

marker '{"step":"push"}'
if ! git push --quiet --no-verify origin "$head:refs/heads/$branch" 2>&1; then
  marker "{\\"git\\":\\"push\\",\\"ok\\":false,\\"branch\\":\\"$branch\\"}"; exit ${RUN_EXIT.pushFailed}
fi
marker "{\\"git\\":\\"push\\",\\"ok\\":true,\\"branch\\":\\"$branch\\",\\"commit\\":\\"$head\\"}"
exit 0
`;

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
