import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(path)));
    else if (/\.(ts|mjs|js)$/.test(entry.name)) out.push(path);
  }
  return out;
}

export interface CodeScan {
  /** Every code named (in code or comments), with the files (relative to `root`) that name it. */
  named: Map<string, string[]>;
  /** The codes used: written as a string literal. */
  used: Set<string>;
  /** The source files read, relative to `root`, with their text. */
  files: { file: string; text: string }[];
}

/**
 * The error codes with `prefix` (`DISPATCH`) that the sources under `dirs` (relative to `root`)
 * use. A registry's own declaration (`defineErrors({...})`) is no use; `ignore` lists names with
 * the prefix that are not codes (`RELAY_GROUP`); the tail of a longer name (`AGENTQ_RELAY_PORT`)
 * is none either.
 */
export async function scanErrorCodes(options: { root: string; dirs: string[]; prefix: string; ignore?: string[] }): Promise<CodeScan> {
  const ignore = new Set(options.ignore);
  const word = new RegExp(`(?<![A-Za-z0-9_])${options.prefix}_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_])`, 'g');
  const named = new Map<string, string[]>();
  const used = new Set<string>();
  const files: CodeScan['files'] = [];
  for (const dir of options.dirs) {
    for (const path of await sourceFiles(join(options.root, dir))) {
      const file = relative(options.root, path);
      const text = await readFile(path, 'utf8');
      files.push({ file, text });
      const uses = text.replace(/defineErrors\(\{[\s\S]*?\n\}\);/, '');
      for (const match of uses.matchAll(word)) {
        const code = match[0];
        if (ignore.has(code)) continue;
        named.set(code, [...new Set([...(named.get(code) ?? []), file])]);
        const before = uses[(match.index ?? 0) - 1];
        if (before === "'" || before === '"' || before === '`') used.add(code);
      }
    }
  }
  return { named, used, files };
}

/** What a registry and its sources disagree on: codes named but not registered (with where), registered codes never used. */
export function registryGaps(registry: Readonly<Record<string, unknown>>, scan: Pick<CodeScan, 'named' | 'used'>): { unknown: string[]; unused: string[] } {
  return {
    unknown: [...scan.named].filter(([code]) => !(code in registry)).map(([code, files]) => `${code} (${files.join(', ')})`),
    unused: Object.keys(registry).filter((code) => !scan.used.has(code)),
  };
}
