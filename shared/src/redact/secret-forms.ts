/** Values shorter than this are not treated as secrets (they would match ordinary text). */
export const MIN_SECRET_LENGTH = 6;

/**
 * A form derived from a secret that is not the secret as written (a base64 middle part, a hex
 * string) is used only when at least this long, so that it cannot match ordinary text by chance.
 */
export const MIN_FORM_LENGTH = 8;

const b64url = (b64: string) => b64.replace(/\+/g, '-').replace(/\//g, '_');

/**
 * The characters of the base64 encoding of `bytes` preceded by `shift` bytes (0, 1 or 2) that
 * depend on `bytes` alone: the same whatever the bytes before and after are.
 */
function base64Middle(bytes: Buffer, shift: number): string {
  const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
  const start = Math.ceil((8 * shift) / 6);
  const end = Math.floor((8 * (shift + bytes.length)) / 6);
  return encoded.slice(start, end);
}

/**
 * The forms a secret is recognized in: as written; JSON-escaped once and twice; URL-encoded (with
 * upper- and lower-case escapes); hex in lower and upper case; base64 and base64url as a whole
 * (with and without padding) and, for each of the three byte alignments the secret can have in a
 * longer encoded text (`user:secret` in a Basic header), the part of the encoding that depends on
 * the secret alone. Empty when the secret is shorter than `MIN_SECRET_LENGTH`.
 */
export function secretForms(secret: string): string[] {
  if (secret.length < MIN_SECRET_LENGTH) return [];
  const bytes = Buffer.from(secret);
  const json = JSON.stringify(secret).slice(1, -1);
  const url = encodeURIComponent(secret);
  const whole = bytes.toString('base64');
  const derived = [
    bytes.toString('hex'),
    bytes.toString('hex').toUpperCase(),
    whole,
    whole.replace(/=+$/, ''),
    b64url(whole),
    b64url(whole).replace(/=+$/, ''),
  ];
  for (const shift of [0, 1, 2]) {
    const middle = base64Middle(bytes, shift);
    derived.push(middle, b64url(middle));
  }
  const forms = new Set([
    secret,
    json,
    JSON.stringify(json).slice(1, -1),
    url,
    url.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
    ...derived.filter((form) => form.length >= MIN_FORM_LENGTH),
  ]);
  return [...forms];
}
