#!/usr/bin/env bash
# The run script of every sandbox: clone → branch → setup → harness → commit → push (see run-script.ts).
# Runs as `bash -c <this file's text> agentq-run <harness command...>`, configured by AGENTQ_* variables.

# Exit codes, the values of RUN_EXIT (otherwise the script exits with the harness's own code).
readonly EXIT_BAD_ARGUMENTS=64
readonly EXIT_CLONE_FAILED=81
readonly EXIT_BASE_REF_NOT_FOUND=82
readonly EXIT_COMMIT_FAILED=83
readonly EXIT_PUSH_FAILED=84
readonly EXIT_BRANCH_NOT_FOUND=85
readonly EXIT_SETUP_FAILED=86

set -u
set -o pipefail
export GIT_TERMINAL_PROMPT=0
# Marker lines start with the ASCII record separator (RS, \036). Everything else written to stdout
# (git's output, setup commands, the agent) passes through `filter`, which deletes every RS byte,
# so no line of theirs can start with one.
marker() { printf '\036{"agentq":%s}\n' "$1"; }
if command -v stdbuf > /dev/null 2>&1; then
  filter() { stdbuf -oL tr -d '\036'; }
else
  filter() { cat; }
  echo "agentq-run: stdbuf (GNU coreutils) is missing: output is not filtered, the agent can print marker lines"
fi
# runs a command with its stdout and stderr through the filter; the pipeline ends before the script
# writes its next line (the order of lines is kept); returns the command's own status
filtered() { "$@" 2>&1 | filter; return "${PIPESTATUS[0]}"; }
is_sha() { [[ "$1" =~ ^[0-9a-f]{40}([0-9a-f]{24})?$ ]]; }
is_int() { [[ "$1" =~ ^[0-9]+$ ]]; }

if [[ ! "${AGENTQ_BRANCH:-}" =~ ^[A-Za-z0-9._/-]{1,200}$ || "${AGENTQ_BRANCH}" == -* || "${AGENTQ_BRANCH}" == *..* ]]; then
  echo "agentq-run: AGENTQ_BRANCH is missing or not a safe branch name" >&2; exit "$EXIT_BAD_ARGUMENTS"
fi
if [[ -z "${AGENTQ_REPO_URL:-}" || $# -eq 0 ]]; then
  echo "agentq-run: usage: AGENTQ_REPO_URL=... AGENTQ_BRANCH=... agentq-run <harness command...>" >&2; exit "$EXIT_BAD_ARGUMENTS"
fi
branch=$AGENTQ_BRANCH
base_ref=${AGENTQ_BASE_REF:-}
continue_branch=${AGENTQ_CONTINUE_BRANCH:-}
workdir=${AGENTQ_WORKDIR:-repo}
author_name=${AGENTQ_GIT_AUTHOR_NAME:-agentq}
author_email=${AGENTQ_GIT_AUTHOR_EMAIL:-agentq@localhost}
message=${AGENTQ_COMMIT_MESSAGE:-agentq task}
setup_count=${AGENTQ_SETUP_COUNT:-0}
if ! is_int "$setup_count"; then
  echo "agentq-run: AGENTQ_SETUP_COUNT is not a number" >&2; exit "$EXIT_BAD_ARGUMENTS"
fi
setup_count=$((10#$setup_count))
for (( i = 0; i < setup_count; i++ )); do
  setup_var="AGENTQ_SETUP_$i"
  if [[ -z "${!setup_var:-}" ]]; then
    echo "agentq-run: $setup_var is missing" >&2; exit "$EXIT_BAD_ARGUMENTS"
  fi
done
# the credential helper reads the token file from wherever git runs: its path must be absolute
if [[ -n "${AGENTQ_GIT_TOKEN_FILE:-}" && "$AGENTQ_GIT_TOKEN_FILE" != /* ]]; then
  export AGENTQ_GIT_TOKEN_FILE="$PWD/$AGENTQ_GIT_TOKEN_FILE"
fi
start_dir=$(pwd -P)
# the copy of the repository's git dir that the agent never sees (see "Private git dir" below)
private_git="$start_dir/.agentq-git"

# Untrusted commands (setup commands, the harness) run as `${untrusted[@]} <command...>`: without
# git's credential configuration, as the agent user when one is given, inside the jail when one is.
untrusted=(env -u AGENTQ_GIT_TOKEN_FILE -u GIT_CONFIG_COUNT)
while IFS= read -r name; do
  if [[ "$name" == GIT_CONFIG_KEY_* || "$name" == GIT_CONFIG_VALUE_* ]]; then untrusted+=(-u "$name"); fi
done < <(compgen -e)
agent_uid=""; agent_gid=""
if [[ -n "${AGENTQ_AGENT_USER:-}" ]]; then
  if [[ ! "$AGENTQ_AGENT_USER" =~ ^([0-9]{1,10}):([0-9]{1,10})$ ]]; then
    echo "agentq-run: AGENTQ_AGENT_USER is not uid:gid (numbers)" >&2; exit "$EXIT_BAD_ARGUMENTS"
  fi
  if [[ "$EUID" -ne 0 ]]; then
    echo "agentq-run: AGENTQ_AGENT_USER is set but the script does not run as root: the agent runs as the script's own user"
  elif ! command -v setpriv > /dev/null 2>&1; then
    echo "agentq-run: AGENTQ_AGENT_USER is set but setpriv (util-linux) is missing" >&2; exit "$EXIT_BAD_ARGUMENTS"
  else
    agent_uid=${BASH_REMATCH[1]}; agent_gid=${BASH_REMATCH[2]}
    untrusted+=(setpriv "--reuid=$agent_uid" "--regid=$agent_gid" --clear-groups --)
  fi
fi
if [[ -n "${AGENTQ_JAIL:-}" ]]; then
  if [[ "$AGENTQ_JAIL" != /* || ! -f "$AGENTQ_JAIL" || ! -x "$AGENTQ_JAIL" ]]; then
    echo "agentq-run: AGENTQ_JAIL is not the absolute path of an executable" >&2; exit "$EXIT_BAD_ARGUMENTS"
  fi
  untrusted+=("$AGENTQ_JAIL")
fi
# A directory given to the agent user: absolute, not /, and not holding the run's private files.
can_give() { [[ "$1" == /* && "$1" != / && -d "$1" && ! -L "$1" && "$start_dir/" != "$(cd -- "$1" && pwd -P)/"* ]]; }

marker '{"step":"clone"}'
if ! filtered git clone --no-tags --quiet -- "$AGENTQ_REPO_URL" "$workdir"; then
  marker '{"git":"clone","ok":false,"reason":"clone"}'; exit "$EXIT_CLONE_FAILED"
fi
cd -- "$workdir" || { marker '{"git":"clone","ok":false,"reason":"clone"}'; exit "$EXIT_CLONE_FAILED"; }
tree=$(pwd -P)
if [[ "$private_git/" == "$tree/"* ]]; then
  echo "agentq-run: AGENTQ_WORKDIR must not hold the run's own files" >&2; exit "$EXIT_BAD_ARGUMENTS"
fi
if [[ "$continue_branch" == 1 ]]; then
  base=$(git rev-parse --verify --quiet "refs/remotes/origin/$branch^{commit}") || base=""
  if ! is_sha "$base"; then
    marker '{"git":"clone","ok":false,"reason":"branch"}'; exit "$EXIT_BRANCH_NOT_FOUND"
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
  marker '{"git":"clone","ok":false,"reason":"base_ref"}'; exit "$EXIT_BASE_REF_NOT_FOUND"
fi
default_branch=$(git symbolic-ref --quiet --short refs/remotes/origin/HEAD 2>/dev/null) || default_branch=""
default_branch=${default_branch#origin/}
if [[ "$default_branch" =~ ^[A-Za-z0-9._/-]{1,200}$ && "$default_branch" != -* && "$default_branch" != *..* ]]; then
  marker "{\"git\":\"clone\",\"ok\":true,\"baseCommit\":\"$base\",\"defaultBranch\":\"$default_branch\"}"
else
  marker "{\"git\":\"clone\",\"ok\":true,\"baseCommit\":\"$base\"}"
fi
if ! filtered git checkout --quiet -b "$branch" "$base"; then
  marker '{"git":"branch","ok":false}'; exit "$EXIT_CLONE_FAILED"
fi
# Private git dir: the agent owns the working tree, its .git and $HOME, so everything git does after
# the agent works on a copy of .git taken now, outside the working tree, with no global config, no
# hooks and no fsmonitor. The agent's own .git (its config, hooks, commits) is never used again.
if ! { mkdir -m 700 -- "$private_git" && cp -a -- .git/. "$private_git/"; } 2>&1 | filter; then
  marker '{"git":"branch","ok":false}'; exit "$EXIT_CLONE_FAILED"
fi
if [[ "$continue_branch" == 1 ]]; then
  marker "{\"git\":\"branch\",\"ok\":true,\"branch\":\"$branch\",\"continued\":true}"
else
  marker "{\"git\":\"branch\",\"ok\":true,\"branch\":\"$branch\"}"
fi
private() {
  GIT_CONFIG_GLOBAL=/dev/null XDG_CONFIG_HOME=/nonexistent git --git-dir="$private_git" --work-tree="$tree" \
    -c core.hooksPath=/dev/null -c core.fsmonitor=false -c safe.directory='*' \
    -c core.attributesFile=/dev/null -c core.excludesFile=/dev/null -c push.recurseSubmodules=no "$@"
}

if [[ -n "$agent_uid" ]]; then
  owned=("$tree")
  for dir in "${HOME:-}" "${TMPDIR:-}"; do
    if [[ -n "$dir" && -e "$dir" ]]; then
      if can_give "$dir"; then owned+=("$dir"); else echo "agentq-run: $dir is not given to the agent user"; fi
    fi
  done
  if ! filtered chown -R -h -- "$agent_uid:$agent_gid" "${owned[@]}"; then
    echo "agentq-run: could not give the working tree to the agent user" >&2; exit "$EXIT_BAD_ARGUMENTS"
  fi
fi

if (( setup_count > 0 )); then
  marker '{"step":"setup"}'
  for (( i = 0; i < setup_count; i++ )); do
    setup_var="AGENTQ_SETUP_$i"
    printf '$ %s\n' "${!setup_var}" | filter
    filtered "${untrusted[@]}" bash -c "${!setup_var}" < /dev/null
    code=$?
    marker "{\"setup\":\"exit\",\"index\":$i,\"count\":$setup_count,\"code\":$code}"
    if [[ $code -ne 0 ]]; then exit "$EXIT_SETUP_FAILED"; fi
  done
fi

marker '{"step":"agent"}'
filtered "${untrusted[@]}" "$@" < /dev/null
code=$?
marker "{\"agent\":\"exit\",\"code\":$code}"
if [[ $code -ne 0 ]]; then exit "$code"; fi

marker '{"step":"commit"}'
# git reads the working tree as the script's user: a hard link to a file the agent's user does not
# own (one the kernel lets it make where fs.protected_hardlinks is 0, the git token say) stops the commit
if [[ -n "$agent_uid" ]]; then
  linked=$(find "$tree" -path "$tree/.git" -prune -o -type f -links +1 ! -uid "$agent_uid" -print -quit 2>/dev/null)
  if [[ -n "$linked" ]]; then
    echo "agentq-run: the working tree holds a hard link to a file that is not the agent's: nothing is committed"
    marker '{"git":"commit","ok":false}'; exit "$EXIT_COMMIT_FAILED"
  fi
fi
if ! filtered private add -A; then marker '{"git":"commit","ok":false}'; exit "$EXIT_COMMIT_FAILED"; fi
if ! private diff --cached --quiet 2>/dev/null; then
  if ! filtered private -c "user.name=$author_name" -c "user.email=$author_email" commit --quiet --no-verify -F - <<<"$message"; then
    marker '{"git":"commit","ok":false}'; exit "$EXIT_COMMIT_FAILED"
  fi
fi
head=$(private rev-parse --verify --quiet "HEAD^{commit}") || head=""
if ! is_sha "$head"; then marker '{"git":"commit","ok":false}'; exit "$EXIT_COMMIT_FAILED"; fi
if [[ "$head" == "$base" ]]; then
  marker '{"git":"no_changes","ok":true}'; exit 0
fi
files=0; insertions=0; deletions=0
while IFS=$'\t' read -r added removed _; do
  files=$((files + 1))
  if is_int "$added"; then insertions=$((insertions + added)); fi
  if is_int "$removed"; then deletions=$((deletions + removed)); fi
done < <(private diff --numstat "$base" "$head")
marker "{\"git\":\"commit\",\"ok\":true,\"commit\":\"$head\",\"diffStat\":{\"files\":$files,\"insertions\":$insertions,\"deletions\":$deletions}}"

marker '{"step":"push"}'
if ! filtered private push --quiet --no-verify origin "$head:refs/heads/$branch"; then
  marker "{\"git\":\"push\",\"ok\":false,\"branch\":\"$branch\"}"; exit "$EXIT_PUSH_FAILED"
fi
marker "{\"git\":\"push\",\"ok\":true,\"branch\":\"$branch\",\"commit\":\"$head\"}"
exit 0
