// Type-aware lint: no-floating-promises catches the un-awaited promise that would
// otherwise crash the daemon with an unhandled rejection.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import regexp from 'eslint-plugin-regexp'
import { sidecarPlugin } from './eslint/layers.js'

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.ci/**', 'test/artifacts/**', 'ui/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Imports between src/ folders point down (eslint/layers.js, docs/ARCHITECTURE.md).
    files: ['src/**/*.ts'],
    plugins: { sidecar: sidecarPlugin, regexp },
    rules: {
      // src/ reads labels, gossip, requests and receivers' answers: a regular expression that
      // backtracks in polynomial time on them stalls the event loop (CHANGELOG: 3.6 s, 48 s).
      // Tests and benchmarks keep such expressions as references, so these rules stop at src/.
      'regexp/no-super-linear-backtracking': 'error',
      'regexp/no-super-linear-move': 'error',
      'sidecar/layers': ['error', { root: `${import.meta.dirname}/src` }],
      // An ES module import of node:http loads Node's bundled undici (src/lib/node-http.ts).
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: [
          ...['node:http', 'http'].map(name => ({ name, message: 'take http from src/lib/node-http.ts: an ES module import of node:http loads undici', allowTypeImports: true })),
          { name: '@koa/router', message: 'its ES module build imports node:http, which loads undici: require it (src/api/app.ts)', allowTypeImports: true },
        ],
      }],
    },
  },
  {
    files: ['**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
)
