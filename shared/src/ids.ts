import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

/** Random bytes drawn ahead in one call to the CSPRNG (as `randomUUID` does), used once each. */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function encodeTime(ms: number, length: number): string {
  let out = '';
  let value = ms;
  for (let i = 0; i < length; i++) {
    out = ALPHABET[value % 32] + out;
    value = Math.floor(value / 32);
  }
  return out;
}

function encodeRandom(length: number): string {
  if (poolOffset + length > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  let out = '';
  for (let i = poolOffset; i < poolOffset + length; i++) out += ALPHABET[(pool[i] as number) % 32];
  poolOffset += length;
  return out;
}

/** A task id: time-sortable (10 chars of milliseconds) plus 16 random chars, e.g. `01jd3k8m2xq4v7c9e5h6t0r2ab`. */
export function newTaskId(now: number = Date.now()): string {
  return encodeTime(now, 10) + encodeRandom(16);
}

export const TASK_ID_PATTERN = /^[0-9a-hjkmnp-tv-z]{26}$/;

export function isTaskId(value: string): boolean {
  return TASK_ID_PATTERN.test(value);
}

/** The short form used in branch names and messages: the last 8 (random) characters. */
export function shortId(taskId: string): string {
  return taskId.slice(-8);
}

/** A lowercase, dash-separated slug of at most `max` characters, for branch names. */
export function slugify(text: string, max = 40): string {
  const slug = text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const cut = slug.slice(0, max).replace(/-+$/g, '');
  return cut.length > 0 ? cut : 'task';
}

export function branchName(taskId: string, prompt: string): string {
  return `agentq/${shortId(taskId)}-${slugify(prompt)}`;
}
