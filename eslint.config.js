// Lint rules: typescript-eslint's recommended set for all TypeScript, Lit and web-component rules
// for the element and the demo. Formatting is Prettier's job (npm run lint checks both).
import js from '@eslint/js';
import lit from 'eslint-plugin-lit';
import wc from 'eslint-plugin-wc';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'dev-dist/', 'coverage/', 'public/', 'test/fixtures/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.browser, ...globals.node, ...globals.worker } },
    rules: {
      // `_`-prefixed names mark deliberately unused parameters and destructured leftovers.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['src/ui/**/*.ts', 'src/app/**/*.ts'],
    ...lit.configs['flat/recommended'],
  },
  {
    files: ['src/ui/**/*.ts', 'src/app/**/*.ts'],
    ...wc.configs['flat/recommended'],
  },
);
