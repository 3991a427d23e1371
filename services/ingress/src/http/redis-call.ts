import { isAgentqError } from '@agentq/shared';
import { unavailable } from './ingress-errors.js';

/**
 * Runs Redis work for a request. Anything that fails there other than our own errors means
 * Redis (or the queue in it) could not do the work: the caller gets 503 `INGRESS_UNAVAILABLE`.
 */
export async function redisCall<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isAgentqError(err)) throw err;
    throw unavailable(err);
  }
}
