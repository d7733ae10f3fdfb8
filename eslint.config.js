// Type-aware linting: the rules that catch unhandled promises and unsafe `any` matter most in a
// tool that spawns processes and must never report a failure as success.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { layerOrderPlugin } from './scripts/eslint-layer-order.mjs';

// The layers of src/, bottom first: a folder (or a file directly in src/) imports at runtime only
// from lower layers, never from a sibling in its own layer (scripts/eslint-layer-order.mjs).
const layers = [
  ['errors', 'local-path', 'snapshot-name', 'calendar'],
  ['exec'],
  ['remote', 'retention'],
  ['config'],
  ['state'],
  ['plan'],
  ['btrfs', 'restic', 'schedule', 'metrics'],
  // Runs that use more than one engine (verify: restic check and the drills of both engines), and
  // the btrfs runs of the commands (run, prune with its backup sets, pull, restore).
  ['operations', 'replication'],
  ['notify'],
  ['doctor', 'quickstart'],
  ['infra'],
  ['cli'],
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unnecessary-condition': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts', 'src/**/*.cts', 'src/**/*.mts'],
    plugins: { snapkeep: layerOrderPlugin },
    rules: {
      'snapkeep/layer-order': ['error', { sourceRoot: `${import.meta.dirname}/src`, layers }],
    },
  },
  {
    // bench/ helpers and build scripts are plain Node scripts outside the TypeScript project:
    // lint them untyped.
    files: ['bench/**/*.mjs', 'scripts/**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false, project: false, program: null },
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' },
    },
  },
);
