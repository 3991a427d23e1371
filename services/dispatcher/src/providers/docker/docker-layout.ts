import { dispatchError } from '../../dispatch-errors.js';

/**
 * Where things are in a `docker` sandbox: everything agentq puts in a container is under
 * `/agentq` — `work/` (where the command starts, with the private files), `home/` (its HOME, kept
 * for follow-ups), `tmp/` (private files on their way in) and `exit-code` (written by the wrapper
 * when the command ends by itself).
 */
export const SANDBOX_DIR = '/agentq';
export const WORK_DIR = `${SANDBOX_DIR}/work`;
export const HOME_DIR = `${SANDBOX_DIR}/home`;
export const TMP_DIR = `${SANDBOX_DIR}/tmp`;
export const EXIT_CODE_PATH = `${SANDBOX_DIR}/exit-code`;

/** The label every container of this provider carries; nothing without it is ever touched. */
export const MARKER_LABEL = 'agentq.sandbox';
export const MARKER_VALUE = '1';

/** Container name of a task's sandbox. */
export function containerName(taskId: string): string {
  return `agentq-${taskId}`;
}

/**
 * The container's entrypoint, `bash -c WRAPPER agentq-sandbox <command...>`: runs the command with
 * stderr merged into stdout (the log is one ordered stream), then records its exit code (atomically)
 * and exits with it. A container stopped from outside never gets to write it.
 */
export const WRAPPER = [
  'exec 2>&1',
  '"$@"',
  'code=$?',
  `printf '%s\\n' "$code" > ${EXIT_CODE_PATH}.tmp && mv -f ${EXIT_CODE_PATH}.tmp ${EXIT_CODE_PATH}`,
  'exit "$code"',
].join('\n');

export const ENTRYPOINT = ['bash', '-c', WRAPPER, 'agentq-sandbox'];

const TASK_ID = /^[A-Za-z0-9_-]{1,100}$/;
/** A container id, a unique prefix of one, or a container name. */
const CONTAINER_REF = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** Names of the private files of `SandboxSpec.files` (the same rules as the `local` provider's). */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const RESERVED = new Set(['home', 'tmp', 'output.log', 'exit-code', 'sandbox.json', 'pid']);

export function taskIdOf(taskId: string): string {
  if (!TASK_ID.test(taskId)) throw dispatchError('DISPATCH_BAD_SANDBOX_SPEC', `invalid task id ${JSON.stringify(taskId)}`);
  return taskId;
}

export function containerRef(id: string): string {
  if (!CONTAINER_REF.test(id)) throw dispatchError('DISPATCH_BAD_SANDBOX_ID', `invalid sandbox id ${JSON.stringify(id)}`);
  return id;
}

export function privateFileName(name: string): string {
  if (!FILE_NAME.test(name) || RESERVED.has(name) || name.endsWith('.tmp')) {
    throw dispatchError('DISPATCH_BAD_SANDBOX_SPEC', `${JSON.stringify(name)} is not a usable sandbox file name`);
  }
  return name;
}
