// ESLint flat config: @eslint/js recommended + typescript-eslint recommended (syntax-only rules;
// the type-checked presets build the whole program on every run, too slow for CI's two cores).
// `npm run lint` runs it over the tree; .ci/run runs it after the typecheck.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Node's globals used by the plain-JavaScript entry points (bin/) and this file. */
const nodeGlobals = { process: 'readonly', console: 'readonly' };

/** k6's globals, for the k6 scripts in loadtest/ (which loadtest/tsconfig.json type-checks against @types/k6). */
const k6Globals = { __ENV: 'readonly', __VU: 'readonly', __ITER: 'readonly', open: 'readonly', console: 'readonly' };

export default defineConfig(
  globalIgnores(['models/', 'generated/', 'dist/', 'coverage/', 'tmp/', '.cache/', '.whl/', '.devbundle/']),
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  { files: ['bin/**/*.js', 'eslint.config.js'], languageOptions: { globals: nodeGlobals } },
  { files: ['loadtest/**/*.js'], languageOptions: { globals: k6Globals } },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests read untyped wire data on purpose (raw gRPC clients, JSON bodies, errors in assert.rejects); product code keeps the rule.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
