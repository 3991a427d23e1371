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
marker() { printf '{"agentq":%s}\n' "$1"; }
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

marker '{"step":"clone"}'
if ! git clone --no-tags --quiet -- "$AGENTQ_REPO_URL" "$workdir" 2>&1; then
  marker '{"git":"clone","ok":false,"reason":"clone"}'; exit "$EXIT_CLONE_FAILED"
fi
cd -- "$workdir" || { marker '{"git":"clone","ok":false,"reason":"clone"}'; exit "$EXIT_CLONE_FAILED"; }
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
if ! git checkout --quiet -b "$branch" "$base" 2>&1; then
  marker '{"git":"branch","ok":false}'; exit "$EXIT_CLONE_FAILED"
fi
if [[ "$continue_branch" == 1 ]]; then
  marker "{\"git\":\"branch\",\"ok\":true,\"branch\":\"$branch\",\"continued\":true}"
else
  marker "{\"git\":\"branch\",\"ok\":true,\"branch\":\"$branch\"}"
fi

if (( setup_count > 0 )); then
  marker '{"step":"setup"}'
  for (( i = 0; i < setup_count; i++ )); do
    setup_var="AGENTQ_SETUP_$i"
    printf '$ %s\n' "${!setup_var}"
    bash -c "${!setup_var}" < /dev/null
    code=$?
    marker "{\"setup\":\"exit\",\"index\":$i,\"count\":$setup_count,\"code\":$code}"
    if [[ $code -ne 0 ]]; then exit "$EXIT_SETUP_FAILED"; fi
  done
fi

marker '{"step":"agent"}'
"$@" < /dev/null
code=$?
marker "{\"agent\":\"exit\",\"code\":$code}"
if [[ $code -ne 0 ]]; then exit "$code"; fi

marker '{"step":"commit"}'
if ! git add -A 2>&1; then marker '{"git":"commit","ok":false}'; exit "$EXIT_COMMIT_FAILED"; fi
if ! git diff --cached --quiet 2>/dev/null; then
  if ! git -c "user.name=$author_name" -c "user.email=$author_email" commit --quiet --no-verify -F - <<<"$message" 2>&1; then
    marker '{"git":"commit","ok":false}'; exit "$EXIT_COMMIT_FAILED"
  fi
fi
head=$(git rev-parse --verify --quiet "HEAD^{commit}") || head=""
if ! is_sha "$head"; then marker '{"git":"commit","ok":false}'; exit "$EXIT_COMMIT_FAILED"; fi
if [[ "$head" == "$base" ]]; then
  marker '{"git":"no_changes","ok":true}'; exit 0
fi
files=0; insertions=0; deletions=0
while IFS=$'\t' read -r added removed _; do
  files=$((files + 1))
  if is_int "$added"; then insertions=$((insertions + added)); fi
  if is_int "$removed"; then deletions=$((deletions + removed)); fi
done < <(git diff --numstat "$base" "$head")
marker "{\"git\":\"commit\",\"ok\":true,\"commit\":\"$head\",\"diffStat\":{\"files\":$files,\"insertions\":$insertions,\"deletions\":$deletions}}"

marker '{"step":"push"}'
if ! git push --quiet --no-verify origin "$head:refs/heads/$branch" 2>&1; then
  marker "{\"git\":\"push\",\"ok\":false,\"branch\":\"$branch\"}"; exit "$EXIT_PUSH_FAILED"
fi
marker "{\"git\":\"push\",\"ok\":true,\"branch\":\"$branch\",\"commit\":\"$head\"}"
exit 0
