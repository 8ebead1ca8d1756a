// Lint rules: type-aware checks plus the dependency direction the architecture promises.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { allowedImports } from './eslint-rules/allowed-imports.js';

/** Interface files every layer may import: the seams, plus errors, events, time and the config's types. */
const seams = [
  'src/errors.ts',
  'src/events.ts',
  'src/clock.ts',
  'src/cache/cached-object.ts',
  'src/cache/content-verifier.ts',
  'src/cache/eviction-policy.ts',
  'src/storage/blob-store.ts',
  'src/storage/metadata-index.ts',
  'src/upstream/fetcher.ts',
  'src/config/config-schema.ts',
];

/** One plugin object for every block: ESLint refuses two different objects under one plugin name. */
const hoardPlugin = { rules: { 'allowed-imports': allowedImports } };

const allowList = (files, options) => ({
  files,
  ignores: ['**/*.test.ts', '**/*.contract.ts'],
  plugins: { hoard: hoardPlugin },
  rules: { 'hoard/allowed-imports': ['error', { root: import.meta.dirname, ...options }] },
});

const noImport = (patterns, why) => ({
  'no-restricted-imports': ['error', { patterns: patterns.map((group) => ({ group: [group], message: why })) }],
});

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'data/**', 'bench/results/**', 'src/admin/assets/vendor/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test registers tests synchronously; their returned promises are the runner's to await.
        {
          allowForKnownSafeCalls: [
            { from: 'package', name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'], package: 'node:test' },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      // The formatter wraps code at 160; what it cannot wrap (a template literal) must still stay readable.
      'max-len': ['error', { code: 400 }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/ban-ts-comment': ['error', { 'ts-ignore': true, 'ts-expect-error': 'allow-with-description' }],
    },
  },
  // Dependency direction as allow-lists (eslint-rules/allowed-imports.js): each folder names what it may import.
  allowList(['src/protocols/**/*.ts'], {
    allow: ['src/protocols/', ...seams, 'src/config/size-string.ts'],
    // node:net only for isIP/isIPv6 (host canonicalisation): protocols never open sockets.
    packages: ['zod', 'pino', 'openpgp', 'xz-decompress', 'node:net', 'node:path', 'node:stream', 'node:stream/promises', 'node:zlib', 'node:crypto'],
    why: 'a protocol folder imports only the seams (interfaces) and its own files; concrete stores, fetchers and the HTTP edge are wired in main.ts',
  }),
  // A protocol's verifier reads trust anchors from disk (apt's keyrings): files, never sockets.
  allowList(['src/protocols/*/verification/**/*.ts'], {
    allow: ['src/protocols/', ...seams, 'src/config/size-string.ts'],
    packages: ['zod', 'pino', 'openpgp', 'xz-decompress', 'node:path', 'node:stream', 'node:stream/promises', 'node:zlib', 'node:crypto', 'node:fs/promises'],
    why: "a protocol's verifier imports only the seams and its protocol's files, and reads files but opens no sockets",
  }),
  allowList(['src/cache/**/*.ts'], {
    allow: ['src/cache/', ...seams, 'src/upstream/upstream-errors.ts', 'src/runtime/garbage-pacer.ts'],
    packages: ['pino', 'node:crypto', 'node:stream', 'node:events'],
    why: 'cache/ sees only the interfaces of storage/ and upstream/ (no fs store, no sqlite, no undici) and nothing of http/ or admin/',
  }),
  allowList(['src/storage/**/*.ts'], {
    allow: ['src/storage/', 'src/errors.ts', 'src/events.ts', 'src/clock.ts'],
    packages: ['*'],
    why: 'storage/ knows nothing of protocols, http/, cache/ or admin/',
  }),
  allowList(['src/upstream/**/*.ts'], {
    allow: ['src/upstream/', 'src/errors.ts', 'src/events.ts', 'src/clock.ts', 'src/cidr-list.ts'],
    packages: ['*'],
    why: 'upstream/ knows nothing of protocols, http/, cache/ or admin/',
  }),
  {
    // Only the composition root builds concrete stores and fetchers; everyone else holds their interfaces.
    files: ['src/**/*.ts'],
    // serving-worker.ts is the composition root of a serving thread, as main.ts is of the process.
    ignores: ['**/*.test.ts', '**/*.contract.ts', 'src/main.ts', 'src/serving/serving-worker.ts', 'src/storage/**', 'src/upstream/**'],
    rules: noImport(
      [
        '**/fs-blob-store.ts',
        '**/sqlite-metadata-index.ts',
        '**/memory-blob-store.ts',
        '**/memory-metadata-index.ts',
        '**/http-fetcher.ts',
        '**/mirror-set.ts',
        '**/mirror-health.ts',
      ],
      'only main.ts builds concrete classes',
    ),
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
