// Lint rules: type-aware checks plus the dependency direction the architecture promises.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
        { allowForKnownSafeCalls: [{ from: 'package', name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'], package: 'node:test' }] },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/ban-ts-comment': ['error', { 'ts-ignore': true, 'ts-expect-error': 'allow-with-description' }],
    },
  },
  {
    files: ['src/protocols/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: noImport(['node:fs*', 'node:net', 'node:http*', 'node:child_process', 'undici', '**/storage/**', '**/upstream/**', '**/http/**', '**/cache/**'], 'protocols/ is pure knowledge: no I/O and no other layer'),
  },
  {
    files: ['src/storage/**/*.ts', 'src/upstream/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: noImport(['**/http/**', '**/cache/**', '**/admin/**'], 'storage/ and upstream/ know nothing of http/, cache/ or admin/'),
  },
  {
    files: ['src/cache/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: noImport(['**/http/**', '**/admin/**', '**/fs-*.ts', '**/sqlite-*.ts', '**/undici-*.ts', '**/http-fetcher.ts', 'undici'], 'cache/ sees only interfaces'),
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
