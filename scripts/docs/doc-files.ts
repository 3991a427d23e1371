import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The repository's root. */
export const REPO_ROOT = join(import.meta.dirname, '..', '..');

/** The Markdown files of the documentation, relative to the root: the README and `docs/`. */
export function docFiles(root: string = REPO_ROOT): string[] {
  const pages = readdirSync(join(root, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.md'))
    .map((name) => join('docs', name))
    .sort();
  return ['README.md', ...pages];
}
