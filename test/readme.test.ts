import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS, configTable } from '@agentq/shared';

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { scripts: Record<string, string> };

describe('README', () => {
  it('holds the configuration table exactly as generated from the schema (npm run docs:config)', () => {
    expect(readme).toContain(configTable());
    for (const setting of SETTINGS) expect(readme).toContain(`\`${setting.env}\``);
  });

  it('starts with the quick start commands, and gives the test command', () => {
    const quickStart = readme.indexOf('## Quick start');
    expect(quickStart).toBeGreaterThan(0);
    expect(readme.indexOf('npm ci && npm start')).toBeGreaterThan(quickStart);
    expect(readme).toContain('npx agentq submit demo/hello "add a CONTRIBUTING.md" --follow');
    expect(readme).toContain('npm test');
  });

  it('names only scripts that exist', () => {
    for (const [, name] of readme.matchAll(/npm run ([a-z:-]+)/g)) {
      expect(Object.keys(pkg.scripts)).toContain(name);
    }
  });
});
