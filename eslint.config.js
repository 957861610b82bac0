// ESLint (flat config): typescript-eslint's recommended rules, plus the package boundary rule —
// a stage never imports another stage; stages talk through files with a written schema.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const STAGES = ['ingest', 'featurize', 'train', 'evaluate', 'predict'];
const SHARED_MAY_NOT_IMPORT = [...STAGES, 'cli'];

const boundary = (pkg, forbidden) => ({
  files: [`packages/${pkg}/src/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: forbidden
          .filter((p) => p !== pkg)
          .map((p) => ({
            group: [`@nerflow/${p}`, `@nerflow/${p}/*`, `**/packages/${p}/**`, `../../${p}/**`],
            message: `packages/${pkg} must not import @nerflow/${p}: stages talk through files with a written contract (packages/<stage>/README.md), shared code goes in core/tracking/metrics/viz/nn.`,
          })),
      },
    ],
  },
});

export default tseslint.config(
  // packages/nn/assembly is AssemblyScript (compiled by asc, not tsc): its decorators are not TypeScript
  { ignores: ['**/node_modules/**', 'runs/**', '.nx/**', '**/dist/**', 'packages/nn/assembly/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2022, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...STAGES.map((s) => boundary(s, STAGES)),
  ...['core', 'tracking', 'metrics', 'viz', 'nn'].map((s) => boundary(s, SHARED_MAY_NOT_IMPORT)),
);
