import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', '.data/', 'coverage/', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
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
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/../shared/**', '../../shared/*'], message: 'Import @agentq/shared by name.' },
          ],
        },
      ],
    },
  },
  {
    files: ['services/ingress/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['@agentq/dispatcher', '@agentq/log-relay', '@agentq/cli'] }],
    },
  },
  {
    files: ['services/dispatcher/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['@agentq/ingress', '@agentq/log-relay', '@agentq/cli'] }],
    },
  },
  {
    files: ['services/log-relay/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['@agentq/ingress', '@agentq/dispatcher', '@agentq/cli'] }],
    },
  },
  {
    files: ['shared/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['@agentq/ingress', '@agentq/dispatcher', '@agentq/log-relay', '@agentq/cli'] },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
