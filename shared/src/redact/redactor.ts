import { MIN_FORM_LENGTH, MIN_SECRET_LENGTH, secretForms } from './secret-forms.js';

export { MIN_FORM_LENGTH, MIN_SECRET_LENGTH, secretForms };

export const REDACTED = '[REDACTED]';

/**
 * A secret cut in two by a line break is recognized when each piece is at least this long and the
 * two pieces together are the whole secret or one of its forms (`secretForms`).
 */
export const MIN_PIECE_LENGTH = 4;

/** Forms longer than this are not looked for cut in two (a PEM key is, line by line). */
export const MAX_CUT_FORM_LENGTH = 512;

export type Redact = (text: string) => string;

/** A way to cut a form in two: `head` ends one line, `rest` starts the next. */
interface Cut {
  head: string;
  rest: string;
}

/** Line breaks inside one text: real ones, and the `\n` escapes of JSON strings. */
const LINE_BREAK = /\r?\n|\\r\\n|\\n/g;

/**
 * The forms go into regular expressions of at most this many characters each: V8 leaves out its
 * search optimizations for larger ones, and an alternation of hundreds of forms then runs many
 * times slower (`npm run bench -- redact`). Forms are applied longest first across them too.
 */
const MAX_PATTERN_CHARS = 8_000;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A secret of several lines (a PEM key, also written with `\n` escapes) is found line by line: its
 * lines of at least this length, but the armor, in every form; the whole of it only as written.
 */
export const MIN_SECRET_LINE_LENGTH = 16;

function secretLines(secret: string): string[] {
  if (!secret.includes('\n') && !secret.includes('\\n')) return [];
  return secret
    .split(/\r?\n|\\n/)
    .map((line) => line.trim())
    .filter((line) => line.length >= MIN_SECRET_LINE_LENGTH && !line.startsWith('-----'));
}

/** Where a line ends, not counting a carriage return. */
const lineEnd = (text: string) => (text.endsWith('\r') ? text.length - 1 : text.length);

/**
 * Finds a set of secrets in text, in every form `secretForms` gives, also when cut in two by a
 * line break. Built once per set of secrets: regular expressions of all forms, and an index of
 * the ways to cut each form keyed by the last characters before the cut.
 */
export class SecretMatcher {
  private readonly patterns: RegExp[] = [];
  private readonly cuts = new Map<string, Cut[]>();

  constructor(secrets: Iterable<string | undefined>) {
    const forms = new Set<string>();
    for (const secret of secrets) {
      if (!secret) continue;
      const lines = secretLines(secret);
      // the encodings of a secret of several lines contain those of its lines
      if (lines.length > 0) forms.add(secret);
      else for (const form of secretForms(secret)) forms.add(form);
      for (const line of lines) for (const form of secretForms(line)) forms.add(form);
    }
    if (forms.size === 0) return;
    // longest first: a form that contains another is replaced whole
    const sorted = [...forms].sort((a, b) => b.length - a.length);
    let group: string[] = [];
    let size = 0;
    for (const form of sorted.map(escapeRegExp)) {
      if (size + form.length > MAX_PATTERN_CHARS && group.length > 0) {
        this.patterns.push(new RegExp(group.join('|'), 'g'));
        group = [];
        size = 0;
      }
      group.push(form);
      size += form.length + 1;
    }
    this.patterns.push(new RegExp(group.join('|'), 'g'));
    for (const form of sorted) {
      if (form.length < 2 * MIN_PIECE_LENGTH || form.length > MAX_CUT_FORM_LENGTH) continue;
      for (let at = MIN_PIECE_LENGTH; at <= form.length - MIN_PIECE_LENGTH; at++) {
        const key = form.slice(at - MIN_PIECE_LENGTH, at);
        const list = this.cuts.get(key) ?? [];
        list.push({ head: form.slice(0, at), rest: form.slice(at) });
        this.cuts.set(key, list);
      }
    }
  }

  /** Replaces every secret, and every secret cut by a line break (both pieces), with `[REDACTED]`. */
  readonly redact: Redact = (text) => {
    if (this.patterns.length === 0 || text.length === 0) return text;
    let replaced = text;
    for (const pattern of this.patterns) replaced = replaced.replace(pattern, REDACTED);
    if (this.cuts.size === 0 || (!replaced.includes('\n') && !replaced.includes('\\n'))) return replaced;
    return this.redactCutsInside(replaced);
  };

  /** Whether the end of a line could be the first piece of a secret the next line completes. */
  continues(line: string): boolean {
    const end = lineEnd(line);
    const candidates = this.cuts.get(line.slice(end - MIN_PIECE_LENGTH, end));
    return candidates !== undefined && end >= MIN_PIECE_LENGTH && candidates.some((c) => line.startsWith(c.head, end - c.head.length));
  }

  /**
   * Two consecutive lines (each already redacted): when the end of `first` and the start of
   * `second` together form a secret, both pieces are replaced.
   */
  across(first: string, second: string): [string, string] {
    const end = lineEnd(first);
    const cut = this.findCut(first, end, second, 0);
    if (!cut) return [first, second];
    return [`${first.slice(0, end - cut.head.length)}${REDACTED}${first.slice(end)}`, `${REDACTED}${second.slice(cut.rest.length)}`];
  }

  /** The longest cut form whose head ends `a` at `end` and whose rest starts `b` at `start`. */
  private findCut(a: string, end: number, b: string, start: number): Cut | undefined {
    if (end < MIN_PIECE_LENGTH) return undefined;
    const candidates = this.cuts.get(a.slice(end - MIN_PIECE_LENGTH, end));
    if (!candidates) return undefined;
    let best: Cut | undefined;
    for (const cut of candidates) {
      if (best && best.head.length + best.rest.length >= cut.head.length + cut.rest.length) continue;
      if (end >= cut.head.length && a.startsWith(cut.head, end - cut.head.length) && b.startsWith(cut.rest, start)) best = cut;
    }
    return best;
  }

  private redactCutsInside(text: string): string {
    let out = '';
    let done = 0;
    for (const m of text.matchAll(LINE_BREAK)) {
      const at = m.index;
      const after = at + m[0].length;
      if (at - MIN_PIECE_LENGTH < done) continue;
      const cut = this.findCut(text, at, text, after);
      if (!cut || at - cut.head.length < done) continue;
      out += `${text.slice(done, at - cut.head.length)}${REDACTED}${m[0]}${REDACTED}`;
      done = after + cut.rest.length;
    }
    return done === 0 ? text : out + text.slice(done);
  }
}

/**
 * Returns a function that replaces every occurrence of the given secret values, in every form
 * `secretForms` gives and also cut in two by a line break, with `[REDACTED]`.
 */
export function createRedactor(secrets: Iterable<string | undefined>): Redact {
  return new SecretMatcher(secrets).redact;
}
