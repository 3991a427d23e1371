/*
 * `npm run bench -- redact`: the redactor on agent-like output (stream-json lines of messages,
 * tool output with `\n` escapes, code, base64 blobs, a few leaked secrets) with 50 secrets of
 * 40 characters, line by line as the dispatcher reads a sandbox: MB/s of the full redactor (every
 * form, cuts at line breaks, the look across lines) against a pass of only the plain,
 * JSON, URL and whole-base64 forms in one regular expression (the forms of the earlier redactor),
 * and the time to build the redactor. `BENCH_REDACT_MB` sets the size of the text (default 8).
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { SecretMatcher } from '@agentq/shared';
import { median } from './stats.js';

/** Deterministic bytes, so that every run sees the same secrets and text. */
const bytesOf = (seed: string, n: number) => Buffer.concat(Array.from({ length: Math.ceil(n / 32) }, (_, i) => createHash('sha256').update(`${seed}:${i}`).digest())).subarray(0, n);

const WORDS = 'the function returns a value when called with options and the test passes after we fix import paths in src index'.split(' ');

function agentLines(bytes: number, secrets: string[], seed = 7): string[] {
  let state = seed;
  const rand = (n: number) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
  const sentence = (n: number) => Array.from({ length: n }, () => WORDS[rand(WORDS.length)]).join(' ');
  const lines: string[] = [];
  let size = 0;
  while (size < bytes) {
    const kind = rand(10);
    let text: string;
    if (kind < 4) text = JSON.stringify({ type: 'assistant', message: { content: [{ type: 'text', text: sentence(30) }] } });
    else if (kind < 7) text = JSON.stringify({ type: 'user', message: { content: [{ type: 'tool_result', content: Array.from({ length: 8 }, () => `  ${sentence(6)};`).join('\n') }] } });
    else if (kind < 8) text = JSON.stringify({ type: 'user', message: { content: [{ type: 'tool_result', content: bytesOf(`blob${lines.length}`, 600).toString('base64') }] } });
    else if (kind < 9) text = `${sentence(12)} ${rand(100) === 0 ? (secrets[rand(secrets.length)] as string) : 'ok'}`;
    else text = `const x${rand(1000)} = await load("${sentence(3)}");`;
    lines.push(text);
    size += text.length + 1;
  }
  return lines;
}

function plainFormsPass(secrets: string[]): (text: string) => string {
  const forms = new Set<string>();
  for (const s of secrets) {
    forms.add(s);
    forms.add(JSON.stringify(s).slice(1, -1));
    forms.add(encodeURIComponent(s));
    forms.add(Buffer.from(s).toString('base64').replace(/=+$/, ''));
  }
  const pattern = new RegExp([...forms].map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  return (text) => text.replace(pattern, '[REDACTED]');
}

function rate(lines: string[], pass: (lines: string[]) => unknown, rounds: number): number {
  const bytes = lines.reduce((n, l) => n + l.length + 1, 0);
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    pass(lines);
    samples.push(bytes / 1e6 / ((performance.now() - t0) / 1000));
  }
  return median(samples);
}

export function benchRedact(options: { megabytes: number; rounds: number }): void {
  const secrets = Array.from({ length: 50 }, (_, i) => bytesOf(`secret${i}`, 30).toString('base64url'));
  const t0 = performance.now();
  const matcher = new SecretMatcher(secrets);
  const buildMs = performance.now() - t0;
  const lines = agentLines(options.megabytes * 1e6, secrets);
  const full = (all: string[]): number => {
    let held: string | undefined;
    let out = 0;
    for (const raw of all) {
      let text = matcher.redact(raw);
      if (held !== undefined) {
        const [before, after] = matcher.across(held, text);
        out += before.length;
        text = after;
      }
      held = matcher.continues(text) ? text : undefined;
      if (held === undefined) out += text.length;
    }
    return out;
  };
  const plain = plainFormsPass(secrets);
  const earlier = (all: string[]) => {
    for (const raw of all) plain(raw);
  };
  full(lines.slice(0, 2000)); // warm-up
  earlier(lines.slice(0, 2000));
  console.log(`redact: ${options.megabytes} MB of agent-like output in ${lines.length} lines, 50 secrets of 40 characters, median of ${options.rounds} rounds`);
  console.log(`  full redactor (every form, cuts at line breaks, across lines): ${rate(lines, full, options.rounds).toFixed(1)} MB/s`);
  console.log(`  plain, JSON, URL and base64 forms only:                       ${rate(lines, earlier, options.rounds).toFixed(1)} MB/s`);
  console.log(`  building the redactor: ${buildMs.toFixed(1)} ms`);
}
