import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '@agentq/shared';
import { REPO_ROOT, docFiles } from '../scripts/docs/doc-files.js';
import { REGENERATE_COMMAND, fillGeneratedBlocks, generatedBlockNames } from '../scripts/docs/generated-blocks.js';
import { GENERATED_TABLES } from '../scripts/docs/generated-tables.js';
import { headingAnchors, localLinks } from '../scripts/docs/markdown-links.js';

const read = (file: string) => readFileSync(join(REPO_ROOT, file), 'utf8');
const files = docFiles();
const readme = read('README.md');
const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };

describe('the generated tables', () => {
  it.each(files)('%s holds them exactly as the code generates them now', (file) => {
    const text = read(file);
    expect(text, `${file} is out of date with the code: run \`${REGENERATE_COMMAND}\``).toBe(fillGeneratedBlocks(text, GENERATED_TABLES));
  });

  it('are each in the docs exactly once', () => {
    const names = files.flatMap((file) => generatedBlockNames(read(file))).sort();
    expect(names).toEqual(Object.keys(GENERATED_TABLES).sort());
  });

  it('document every setting on the configuration page', () => {
    const page = read('docs/configuration.md');
    for (const setting of SETTINGS) expect(page).toContain(`| \`${setting.env}\` |`);
  });
});

describe('the README', () => {
  it('starts with the quick start commands, and gives the test command', () => {
    const quickStart = readme.indexOf('## Quick start');
    expect(quickStart).toBeGreaterThan(0);
    expect(readme.indexOf('npm ci && npm start')).toBeGreaterThan(quickStart);
    expect(readme).toContain('npx agentq submit demo/hello "add a CONTRIBUTING.md" --follow');
    expect(readme).toContain('npm test');
  });

  it('stays short and links every page of the docs', () => {
    expect(readme.split('\n').length).toBeLessThan(150);
    const linked = new Set(localLinks(readme).map((link) => normalize(link.path)));
    for (const file of files.filter((f) => f.startsWith('docs/') && f !== 'docs/README.md')) expect(linked).toContain(file);
  });
});

describe('links and commands of the docs', () => {
  it('point at files and headings that exist', () => {
    const broken: string[] = [];
    for (const file of files) {
      for (const link of localLinks(read(file))) {
        const target = link.path === '' ? file : normalize(join(dirname(file), link.path));
        if (!existsSync(join(REPO_ROOT, target))) {
          broken.push(`${file}: ${link.href} (no file ${target})`);
        } else if (link.anchor !== undefined && !headingAnchors(read(target)).has(link.anchor)) {
          broken.push(`${file}: ${link.href} (no heading #${link.anchor} in ${target})`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('name only npm scripts that exist', () => {
    const missing = files.flatMap((file) =>
      [...read(file).matchAll(/npm run ([a-z][a-z:-]*)/g)].map((m) => m[1] ?? '').filter((name) => !(name in pkg.scripts)).map((name) => `${file}: npm run ${name}`),
    );
    expect(missing).toEqual([]);
  });
});
