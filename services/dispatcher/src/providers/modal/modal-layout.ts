import { dispatchError } from '../../dispatch-errors.js';

// What the `modal` provider runs inside a sandbox, and where it keeps things there.

/** Lifetime of a sandbox whose spec names none (Modal's own default is 5 minutes; 24 hours is its maximum). */
export const DEFAULT_TIMEOUT_MS = 24 * 3600 * 1000;
/** How long one output follower runs before the next one takes over (bounds a follower left behind). */
export const FOLLOW_WINDOW_SEC = 240;
/** Exit code of a follower that ended before the command did: follow on. */
export const FOLLOW_AGAIN = 75;
/** Exit code of the scripts below when the file asked for is not there. */
export const ABSENT = 44;
/** Followers in a row that made no progress before `output` gives up. */
export const MAX_IDLE_FOLLOWS = 5;
/** At most this much output (UTF-16 code units) is kept by a handle to replay once its sandbox is terminated. */
export const REPLAY_LIMIT = 4 * 1024 * 1024;

/**
 * The sandbox's entrypoint: waits (bounded) until `<root>/ready` exists, runs the command in
 * `<root>/work` with its output appended to `<root>/output.log` and its pid in `<root>/pid`, records
 * the exit code in `<root>/exit-code`, then sleeps so the files stay readable until the sandbox is
 * terminated. `$1` is the root, the rest the command.
 */
export const WRAPPER = [
  'root=$1; shift',
  'mkdir -p -- "$root/work"',
  'n=0',
  'until [ -e "$root/ready" ]; do',
  '  n=$((n + 1))',
  `  if [ "$n" -gt 1200 ]; then echo 'agentq: the sandbox was not made ready in time' >&2; exit 70; fi`,
  '  sleep 0.1',
  'done',
  'cd -- "$root/work" || exit 71',
  '"$@" >> "$root/output.log" 2>&1 < /dev/null &',
  'pid=$!',
  `printf '%s\\n' "$pid" > "$root/pid.tmp" && mv -f -- "$root/pid.tmp" "$root/pid"`,
  'wait "$pid"',
  'code=$?',
  `printf '%s\\n' "$code" > "$root/exit-code.tmp" && mv -f -- "$root/exit-code.tmp" "$root/exit-code"`,
  'exec sleep infinity',
].join('\n');

/**
 * Prints `<root>/output.log` from line `$2` on, following it until the command has ended and all of
 * it is printed (exit 0), or for at most `$3` seconds (exit FOLLOW_AGAIN). While the file grows, the
 * lines before are skipped by sed (`tail -n +K -F` skips only lines that are there when it starts).
 */
export const FOLLOW = [
  'set -o pipefail',
  'root=$1; from=$2; window=$3',
  'log=$root/output.log',
  'end=$((SECONDS + window))',
  'until [ -e "$root/pid" ] || [ -e "$root/exit-code" ]; do',
  `  [ "$SECONDS" -lt "$end" ] || exit ${FOLLOW_AGAIN}`,
  '  sleep 0.1',
  'done',
  'if [ -e "$root/exit-code" ]; then',
  '  [ -e "$log" ] || exit 0',
  '  exec tail -n "+$from" -- "$log"',
  'fi',
  `pid=$(cat -- "$root/pid") || exit ${FOLLOW_AGAIN}`,
  'skip() { if [ "$from" -gt 1 ]; then sed -u "1,$((from - 1))d"; else cat; fi; }',
  'timeout "$((end - SECONDS + 1))" tail -n +1 -s 0.2 -F --pid="$pid" -- "$log" 2>/dev/null | skip',
  'code=$?',
  `[ "$code" -eq 124 ] && exit ${FOLLOW_AGAIN}`,
  'exit "$code"',
].join('\n');

/** Replaces the file `$1` atomically with standard input, readable by its owner only. */
export const WRITE = 'f=$1; mkdir -p -- "${f%/*}" && umask 077 && cat > "$f.tmp" && chmod 600 -- "$f.tmp" && mv -f -- "$f.tmp" "$f"';
export const READ = `[ -f "$1" ] || exit ${ABSENT}; exec cat -- "$1"`;
export const EXIT_CODE = `[ -f "$1/exit-code" ] || exit ${ABSENT}; exec cat -- "$1/exit-code"`;
export const READY = 'mkdir -p -- "$1/work" && : > "$1/ready"';

/** Task ids usable in a sandbox name (`agentq-<id>`, at most 63 characters). */
export const TASK_ID = /^[A-Za-z0-9_-]{1,56}$/;
export const SANDBOX_ID = /^[A-Za-z0-9_-]{1,128}$/;
/** Names of the private files of `SandboxSpec.files`. */
export const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function privateFileName(name: string): string {
  if (!FILE_NAME.test(name) || name.endsWith('.tmp')) {
    throw dispatchError('DISPATCH_BAD_SANDBOX_SPEC', `${JSON.stringify(name)} is not a usable sandbox file name`);
  }
  return name;
}
