import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_TEAM, configSecrets, type ApiToken, type Config } from '../config/load-config.js';

/**
 * Reads a secret stored in the data dir, creating it (mode 0600) on first use. Concurrent
 * first uses agree: the file is created exclusively and the loser reads the winner's value.
 */
export function readOrCreateSecret(dataDir: string, name: string, make: () => string): string {
  const path = join(dataDir, name);
  mkdirSync(dataDir, { recursive: true });
  try {
    writeFileSync(path, `${make()}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return readFileSync(path, 'utf8').trim();
}

export const API_TOKEN_FILE = 'api-token';
export const VIEWER_SECRET_FILE = 'viewer-secret';

/** The configured API tokens, or the one generated and stored in the data dir. */
export function resolveApiTokens(config: Config): { tokens: ApiToken[]; generated: boolean } {
  if (config.apiTokens && config.apiTokens.length > 0) return { tokens: config.apiTokens, generated: false };
  const token = readOrCreateSecret(config.dataDir, API_TOKEN_FILE, () => `aq_${randomBytes(24).toString('base64url')}`);
  return { tokens: [{ token, team: DEFAULT_TEAM }], generated: true };
}

export function resolveViewerSecret(config: Config): string {
  return config.viewerSecret ?? readOrCreateSecret(config.dataDir, VIEWER_SECRET_FILE, () => randomBytes(32).toString('base64url'));
}

/**
 * Every secret a service must redact: those of the configuration (`configSecrets`), the viewer
 * secret (generated and stored in the data dir when not set) and the generated API token when the
 * data dir holds one (the ingress or `npm start` creates it; other services only read it).
 */
export function serviceSecrets(config: Config): string[] {
  const generatedToken = join(config.dataDir, API_TOKEN_FILE);
  const local = [resolveViewerSecret(config)];
  if (!config.apiTokens?.length && existsSync(generatedToken)) local.push(readFileSync(generatedToken, 'utf8').trim());
  return [...new Set([...configSecrets(config), ...local])];
}
