import js from '@eslint/js';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * The workspace packages and the packages each may import by name. Services meet only through
 * Redis and `@agentq/shared`; `shared` imports no service; nothing imports the CLI. A relative
 * import that leaves its package (`../../dispatcher/src/...`) is refused everywhere.
 */
const PACKAGES = {
  shared: { files: ['shared/**'], allowed: [] },
  ingress: { files: ['services/ingress/**'], allowed: ['shared'] },
  dispatcher: { files: ['services/dispatcher/**'], allowed: ['shared'] },
  'log-relay': { files: ['services/log-relay/**'], allowed: ['shared'] },
  cli: { files: ['cli/**'], allowed: ['shared'] },
};
const NAMES = Object.keys(PACKAGES);

function boundaries(name, { files, allowed }) {
  const forbidden = NAMES.filter((other) => other !== name && !allowed.includes(other));
  return {
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...forbidden.map((other) => ({
              group: [`@agentq/${other}`, `@agentq/${other}/*`],
              message: `${name} may not import ${other}: services meet only through Redis and @agentq/shared.`,
            })),
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['node_modules/', '**/node_modules/', '**/dist/', '.data/', 'coverage/', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    // `./x.js` in TypeScript sources names `./x.ts`
    settings: { 'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.mjs'], extensionAlias: { '.js': ['.ts', '.js'] } })] },
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        fetch: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // another workspace package is imported by its name, never by a path into it
      'import-x/no-relative-packages': 'error',
    },
  },
  ...Object.entries(PACKAGES).map(([name, spec]) => boundaries(name, spec)),
  {
    files: ['**/*.mjs', '**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
