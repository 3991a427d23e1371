import { SETTINGS, type EnvValues, type SecretEnv } from './settings.js';

/** The part before the first `:` of an `x` or `x:team` entry. */
const beforeTeam = (entry: string) => entry.split(':')[0];

/** The credentials in a Redis URL (the password; a user name is no secret). */
function redisPassword(url: string): string[] {
  try {
    const password = new URL(url).password;
    return password ? [password, decodeURIComponent(password)] : [];
  } catch {
    return [];
  }
}

/**
 * How to find the secrets in a secret setting whose value is not one secret string; the others
 * are secret as they are (each entry of a list).
 */
const SECRET_PARTS: { [E in SecretEnv]?: (value: NonNullable<EnvValues[E]>) => (string | undefined)[] } = {
  REDIS_URL: redisPassword,
  AGENTQ_API_TOKENS: (entries) => entries.map(beforeTeam),
  AGENTQ_WEBHOOK_SECRETS: (entries) => entries.map(beforeTeam),
  // as written, and with its `\n` escapes turned into the line breaks the App uses
  GITHUB_APP_PRIVATE_KEY: (pem) => [pem, pem.replace(/\\n/g, '\n')],
};

/** The secret values of the settings the table marks `secret`, as set. */
export function secretSettingValues(values: EnvValues): string[] {
  const out: string[] = [];
  for (const setting of SETTINGS) {
    if (!('secret' in setting && setting.secret)) continue;
    const env = setting.env as SecretEnv;
    const value = values[env];
    if (value === undefined) continue;
    const parts = SECRET_PARTS[env] as ((v: typeof value) => (string | undefined)[]) | undefined;
    const found = parts ? parts(value) : Array.isArray(value) ? value : [String(value)];
    for (const part of found) if (part) out.push(part);
  }
  return out;
}
