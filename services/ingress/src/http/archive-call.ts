import { isAgentqError } from '@agentq/shared';
import { ingressError } from './ingress-errors.js';

/**
 * Reads the transcript archive for a request. A failure there (the store unreachable, refusing
 * the credentials, no such bucket) answers 503 `INGRESS_ARCHIVE_UNAVAILABLE`.
 */
export async function archiveCall<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isAgentqError(err)) throw err;
    throw ingressError('INGRESS_ARCHIVE_UNAVAILABLE', 'the transcript archive is unavailable; retry later', { cause: err });
  }
}
