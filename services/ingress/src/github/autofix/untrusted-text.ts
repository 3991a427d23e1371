/**
 * Text from GitHub that goes into an agent's prompt (check output, job logs, review comments):
 * untrusted, so it is cleaned of control characters (the task schema refuses them), shown in
 * fenced blocks, and trimmed to a byte budget.
 */

// eslint-disable-next-line no-control-regex -- terminal colour and cursor sequences in CI logs
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]/g;
// eslint-disable-next-line no-control-regex -- the control characters a prompt may not hold (see control-characters.ts)
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/gu;
/** The timestamp GitHub Actions puts before every log line. */
const LOG_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?/gm;

/** Text without terminal escape sequences and control characters (tab and line breaks kept, CRLF made LF). */
export function cleanText(text: string): string {
  return text.replace(ANSI, '').replace(/\r\n?/g, '\n').replace(CONTROL, '');
}

/** A job log cleaned, without the per-line timestamps. */
export function cleanLog(text: string): string {
  return cleanText(text).replace(LOG_TIMESTAMP, '');
}

/** A name or link on one line, cleaned and cut to `max` characters. */
export function oneLine(text: string, max = 200): string {
  const line = cleanText(text).replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** `text` in a fenced block whose fence no line of the text can close. */
export function fenced(raw: string, info = 'text'): string {
  // long runs of backticks are shortened so the fence stays short
  const text = raw.replace(/`{9,}/g, '````````');
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${info}\n${text.replace(/\n+$/, '')}\n${fence}`;
}

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

/** The last `max` bytes of `text`, from a line start (a cut is marked `…`). */
export function tailBytes(text: string, max: number): string {
  if (bytes(text) <= max) return text;
  if (max <= 2) return '';
  const buffer = Buffer.from(text, 'utf8');
  let tail = buffer.subarray(buffer.length - (max - 2)).toString('utf8').replace(/^\uFFFD+/, '');
  const newline = tail.indexOf('\n');
  if (newline >= 0 && newline < tail.length - 1) tail = tail.slice(newline + 1);
  return `…\n${tail}`;
}

/** The first `max` bytes of `text` (a cut is marked `…`). */
export function headBytes(text: string, max: number): string {
  if (bytes(text) <= max) return text;
  if (max <= 3) return '';
  const head = Buffer.from(text, 'utf8').subarray(0, max - 3).toString('utf8').replace(/\uFFFD+$/, '');
  return `${head}…`;
}

export interface Excerpt {
  text: string;
  /** Which end to keep when it must be cut: the end of a log (where the errors are), the start of prose. */
  keep: 'head' | 'tail';
}

/**
 * Cuts the texts to `budget` bytes in total: each gets an equal share, and what a short text does
 * not use goes to the longer ones.
 */
export function fitExcerpts(excerpts: Excerpt[], budget: number): string[] {
  const sizes = excerpts.map((e) => bytes(e.text));
  const shares = new Array<number>(excerpts.length).fill(0);
  let left = Math.max(0, budget);
  let open = excerpts.map((_, i) => i);
  while (open.length > 0 && left > 0) {
    const share = Math.floor(left / open.length);
    const small = open.filter((i) => (sizes[i] ?? 0) - (shares[i] ?? 0) <= share);
    if (small.length === 0) {
      for (const i of open) shares[i] = (shares[i] ?? 0) + share;
      break;
    }
    for (const i of small) {
      left -= (sizes[i] ?? 0) - (shares[i] ?? 0);
      shares[i] = sizes[i] ?? 0;
    }
    open = open.filter((i) => !small.includes(i));
  }
  return excerpts.map((e, i) => {
    const share = shares[i] ?? 0;
    return e.keep === 'tail' ? tailBytes(e.text, share) : headBytes(e.text, share);
  });
}
