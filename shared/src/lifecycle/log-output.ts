import { pino, type Logger } from 'pino';
import { settleWithin } from './settle-within.js';

/** The events of a pino destination: `drain` once it wrote all it held, `error` when a write failed. */
interface Destination {
  on?: (event: 'error', listener: () => void) => unknown;
  once?: (event: 'drain' | 'error', listener: () => void) => unknown;
}

export interface LogOutput {
  /** Resolves once the lines logged so far are written or failed, or after `ms`. */
  settled(ms: number): Promise<void>;
}

/**
 * Follows a logger's destination from now on, for a process whose output nobody may read any
 * more. pino writes the lines still pending when the process exits, and into a pipe whose reader
 * is gone that write retries forever; a write that failed with EPIPE, though, makes pino drop
 * all later output. So exit only once `settled()`: then nothing is pending, or nothing is written.
 */
export function followLogOutput(logger: Logger): LogOutput {
  const destination = (logger as unknown as Record<symbol, Destination | undefined>)[pino.symbols.streamSym] ?? {};
  let failed = false;
  destination.on?.('error', () => {
    failed = true;
  });
  return {
    async settled(ms) {
      const once = destination.once?.bind(destination);
      if (failed || !once) return;
      await settleWithin(
        [
          new Promise<void>((resolve) => {
            once('drain', resolve);
            once('error', resolve);
          }),
        ],
        ms,
      );
    },
  };
}
