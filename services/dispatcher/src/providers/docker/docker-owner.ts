import type Dockerode from 'dockerode';
import { readArchiveFile } from './docker-archive.js';
import { dockerError, engineStatus } from './docker-errors.js';
import { dispatchError } from '../../dispatch-errors.js';

/** Numeric owner of the files agentq puts into a container. */
export interface Owner {
  uid: number;
  gid: number;
}

export const ROOT: Owner = { uid: 0, gid: 0 };

const NUMBER = /^\d+$/;

/** The entries of a passwd or group file: name → [id, primary group id]. */
function entries(text: string | undefined): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const line of (text ?? '').split('\n')) {
    const [name, , id, gid] = line.split(':');
    if (name && id && NUMBER.test(id)) out.set(name, [Number(id), gid && NUMBER.test(gid) ? Number(gid) : 0]);
  }
  return out;
}

/**
 * The uid and gid of a container user (`Config.User`: `name`, `uid`, `name:group`, `uid:gid`, ...)
 * from the image's own `/etc/passwd` and `/etc/group`, as the engine resolves it when the container
 * starts. A user without a group gets its primary group (0 for a uid the passwd file lacks).
 */
export function resolveOwner(user: string | undefined, passwd: string | undefined, group: string | undefined): Owner {
  if (!user) return ROOT;
  const [userPart = '', groupPart] = user.split(':');
  const users = entries(passwd);
  let uid: number;
  let primary: number;
  if (NUMBER.test(userPart)) {
    uid = Number(userPart);
    primary = [...users.values()].find(([id]) => id === uid)?.[1] ?? 0;
  } else {
    const found = users.get(userPart);
    if (!found) throw dispatchError('DISPATCH_SANDBOX_FAILED', `the image's user ${JSON.stringify(userPart)} is not in its /etc/passwd`);
    [uid, primary] = found;
  }
  if (groupPart === undefined || groupPart === '') return { uid, gid: primary };
  if (NUMBER.test(groupPart)) return { uid, gid: Number(groupPart) };
  const found = entries(group).get(groupPart);
  if (!found) throw dispatchError('DISPATCH_SANDBOX_FAILED', `the image's group ${JSON.stringify(groupPart)} is not in its /etc/group`);
  return { uid, gid: found[0] };
}

async function readText(container: Dockerode.Container, path: string): Promise<string | undefined> {
  try {
    return (await readArchiveFile(await container.getArchive({ path })))?.toString('utf8');
  } catch (err) {
    if (engineStatus(err) === 404) return undefined;
    throw dockerError(err, 'other', `could not read ${path} of the sandbox image`);
  }
}

/**
 * Whom the files agentq puts into a container (created or running) must belong to: its user, so
 * that a non-root image can read its private files and write its home. (The engine's own
 * `copyUIDGID` looks the user up on the engine's machine, not in the image.)
 */
export async function containerOwner(container: Dockerode.Container, user: string | undefined): Promise<Owner> {
  if (!user || /^(root|0)(:(root|0))?$/.test(user)) return ROOT;
  const [userPart = '', groupPart] = user.split(':');
  const numeric = NUMBER.test(userPart) && (groupPart === undefined || NUMBER.test(groupPart));
  if (numeric && groupPart !== undefined) return { uid: Number(userPart), gid: Number(groupPart) };
  const passwd = await readText(container, '/etc/passwd');
  const group = groupPart !== undefined && !NUMBER.test(groupPart) ? await readText(container, '/etc/group') : undefined;
  return resolveOwner(user, passwd, group);
}
