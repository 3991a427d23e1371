export const REDACTED = '[REDACTED]';

/** Values shorter than this are not treated as secrets (they would match ordinary text). */
export const MIN_SECRET_LENGTH = 6;

export type Redact = (text: string) => string;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Returns a function that replaces every occurrence of the given secret values, and of their
 * JSON-escaped, URL-encoded and base64 forms, with `[REDACTED]`.
 */
export function createRedactor(secrets: Iterable<string | undefined>): Redact {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (!secret || secret.length < MIN_SECRET_LENGTH) continue;
    forms.add(secret);
    forms.add(JSON.stringify(secret).slice(1, -1));
    forms.add(JSON.stringify(JSON.stringify(secret).slice(1, -1)).slice(1, -1));
    forms.add(encodeURIComponent(secret));
    forms.add(Buffer.from(secret).toString('base64').replace(/=+$/, ''));
  }
  if (forms.size === 0) return (text) => text;
  const pattern = new RegExp(
    [...forms]
      .sort((a, b) => b.length - a.length)
      .map(escapeRegExp)
      .join('|'),
    'g',
  );
  return (text) => (text.length === 0 ? text : text.replace(pattern, REDACTED));
}
