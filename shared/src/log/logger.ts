import { pino, type Logger, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';
import type { Redact } from '../redact/redactor.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  service: string;
  level?: string;
  /** Applied to every log line before it is written: secret values never reach the logs. */
  redact?: Redact;
  destination?: DestinationStream;
  /** Human-readable output instead of JSON lines. */
  pretty?: boolean;
}

/** Key paths that never hold anything loggable. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-agentq-signature"]',
  'headers.authorization',
  'token',
  'apiKey',
  'secret',
  'password',
  '*.token',
  '*.apiKey',
  '*.secret',
  '*.password',
];

/** The one root logger of a service; make task-scoped children with `logger.child({taskId})`. */
export function createLogger(options: LoggerOptions): Logger {
  const redact = options.redact;
  return pino(
    {
      name: options.service,
      level: options.level ?? 'info',
      base: { service: options.service },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      hooks: redact ? { streamWrite: (line: string) => redact(line) } : {},
    },
    options.destination ??
      (options.pretty
        ? pretty({ colorize: process.stdout.isTTY, ignore: 'pid,hostname,service', singleLine: true, sync: true })
        : pino.destination({ dest: 1, sync: false })),
  );
}
