import { join } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const eslint = new ESLint({ cwd: ROOT });

/** The rules that fire on `code` as if it were the file at `path` (relative to the root). */
async function violations(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, path) });
  return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
}

describe('package boundaries (eslint)', () => {
  it.each([
    ['services/ingress/src/x.ts', "import { startDispatcher } from '@agentq/dispatcher';\nexport const y = startDispatcher;\n"],
    ['services/log-relay/src/x.ts', "import { startIngress } from '@agentq/ingress';\nexport const y = startIngress;\n"],
    ['services/dispatcher/src/x.ts', "import { main } from '@agentq/cli';\nexport const y = main;\n"],
    ['shared/src/x.ts', "import { startDispatcher } from '@agentq/dispatcher';\nexport const y = startDispatcher;\n"],
  ])('refuses another service imported by name from %s', async (path, code) => {
    expect(await violations(path, code)).toContain('no-restricted-imports');
  });

  it.each([
    ['services/ingress/src/x.ts', "import { HARNESSES } from '../../dispatcher/src/harnesses/registry.js';\nexport const y = HARNESSES;\n"],
    ['services/dispatcher/test/x.ts', "import { ShutdownManager } from '../../../shared/src/lifecycle/shutdown.js';\nexport const y = ShutdownManager;\n"],
    ['test/x.test.ts', "import { HARNESSES } from '../services/dispatcher/src/harnesses/registry.js';\nexport const y = HARNESSES;\n"],
    ['cli/src/x.ts', "import { ShutdownManager } from '../../shared/src/lifecycle/shutdown.js';\nexport const y = ShutdownManager;\n"],
  ])('refuses a relative path into another package from %s', async (path, code) => {
    expect(await violations(path, code)).toContain('import-x/no-relative-packages');
  });

  it('lets services and the CLI import shared by name, and files of their own package by path', async () => {
    const code = "import { ShutdownManager } from '@agentq/shared';\nimport { HARNESSES } from './harnesses/registry.js';\nexport const y = [ShutdownManager, HARNESSES];\n";
    expect(await violations('services/dispatcher/src/x.ts', code)).toEqual([]);
  });
});
