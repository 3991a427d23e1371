import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RELAY_ERRORS } from '../src/relay-errors.js';
import { REPO_ROOT } from './support.js';

const SRC = join(REPO_ROOT, 'services/log-relay/src');
/** `RELAY_*` names in the sources that are not error codes. */
const NOT_CODES = new Set(['RELAY_ERRORS', 'RELAY_GROUP']);
/** A `RELAY_*` word (not the tail of a longer name such as `AGENTQ_RELAY_PORT`). */
const CODE = /(?<![A-Za-z0-9_])RELAY_[A-Z0-9_]+/g;

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Every code the sources use (the registry's own declarations left out), with where. */
async function usedCodes(): Promise<Map<string, string[]>> {
  const used = new Map<string, string[]>();
  for (const file of await sources(SRC)) {
    let text = await readFile(file, 'utf8');
    // the registry declares every code: only its uses count
    text = text.replace(/defineErrors\(\{[\s\S]*?\n\}\);/, '');
    for (const match of text.matchAll(CODE)) {
      const code = match[0];
      if (NOT_CODES.has(code)) continue;
      used.set(code, [...(used.get(code) ?? []), relative(SRC, file)]);
    }
  }
  return used;
}

describe('relay error registry', () => {
  it('lists every code the relay logs or throws, and every code it lists is used', async () => {
    const used = await usedCodes();
    const registered = Object.keys(RELAY_ERRORS);
    const unregistered = [...used.keys()].filter((code) => !registered.includes(code));
    expect(unregistered, `codes used but not in RELAY_ERRORS: ${unregistered.map((c) => `${c} (${used.get(c)?.join(', ')})`).join('; ')}`).toEqual([]);
    const unused = registered.filter((code) => !used.has(code));
    expect(unused, 'codes in RELAY_ERRORS that nothing uses').toEqual([]);
    // the scan finds codes at all (it would pass on an empty source tree otherwise)
    expect(used.size).toBeGreaterThan(20);
  });

  it('gives every code a meaning', () => {
    for (const [code, spec] of Object.entries(RELAY_ERRORS)) {
      expect(code).toMatch(/^RELAY_[A-Z0-9_]+$/);
      expect(spec.meaning.length, code).toBeGreaterThan(20);
    }
  });
});
