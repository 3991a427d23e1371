import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, docFiles } from './docs/doc-files.js';
import { fillGeneratedBlocks } from './docs/generated-blocks.js';
import { GENERATED_TABLES } from './docs/generated-tables.js';

/** Rewrites every generated table of the docs from the code (`npm run docs`). */
for (const file of docFiles()) {
  const path = join(REPO_ROOT, file);
  const before = readFileSync(path, 'utf8');
  const after = fillGeneratedBlocks(before, GENERATED_TABLES);
  if (after === before) continue;
  writeFileSync(path, after);
  process.stdout.write(`updated ${file}\n`);
}
