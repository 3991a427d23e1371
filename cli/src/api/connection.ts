import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** File (in the data dir) where `npm start` stores the API token it generates. */
export const TOKEN_FILE = 'api-token';
const DEFAULT_DATA_DIR = './.data';
const DEFAULT_PORT = '8080';

export interface Connection {
  url: string;
  token: string | undefined;
  /** Where the token came from, for messages. */
  tokenSource: 'flag' | 'env' | 'file' | 'none';
  /** The token file looked at. */
  tokenFile: string;
}

export interface ConnectionOptions {
  url?: string;
  token?: string;
}

/**
 * The server and token to use: `--url` / `AGENTQ_URL` (default `http://localhost:<AGENTQ_PORT or
 * 8080>`), `--token` / `AGENTQ_TOKEN`, else the token file `npm start` writes.
 */
export function resolveConnection(options: ConnectionOptions, env: NodeJS.ProcessEnv, cwd: string): Connection {
  const url = (options.url || env.AGENTQ_URL || `http://localhost:${env.AGENTQ_PORT || DEFAULT_PORT}`).replace(/\/+$/, '');
  const tokenFile = resolve(cwd, env.AGENTQ_DATA_DIR || DEFAULT_DATA_DIR, TOKEN_FILE);
  if (options.token) return { url, token: options.token, tokenSource: 'flag', tokenFile };
  if (env.AGENTQ_TOKEN) return { url, token: env.AGENTQ_TOKEN, tokenSource: 'env', tokenFile };
  const fromFile = readToken(tokenFile);
  if (fromFile) return { url, token: fromFile, tokenSource: 'file', tokenFile };
  return { url, token: undefined, tokenSource: 'none', tokenFile };
}

function readToken(path: string): string | undefined {
  try {
    const token = readFileSync(path, 'utf8').trim();
    return token.length > 0 ? token : undefined;
  } catch {
    return undefined;
  }
}
