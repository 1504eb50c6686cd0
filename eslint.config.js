// ESLint flat config. The custom restrictions enforce DESIGN.md's one rule: real time,
// timers and randomness come only from the environment object (src/env/).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const realTimeAndRandomness = {
  'no-restricted-properties': [
    'error',
    { object: 'Date', property: 'now', message: 'Use env.now() (src/env) so the code runs in virtual time.' },
    { object: 'Math', property: 'random', message: 'Use env.random (src/env) so runs are reproducible from a seed.' },
    { object: 'crypto', property: 'randomBytes', message: 'Use env.random.bytes() (src/env).' },
    { object: 'performance', property: 'now', message: 'Use env.now() (src/env).' },
  ],
  'no-restricted-globals': [
    'error',
    { name: 'setTimeout', message: 'Use env.setTimeout() (src/env).' },
    { name: 'setInterval', message: 'Use env.setInterval() (src/env).' },
    { name: 'setImmediate', message: 'Use env.defer() (src/env).' },
  ],
  'no-restricted-syntax': [
    'error',
    { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Use new Date(env.now()).' },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.data/**', 'test-output/**', '.scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/env/**'],
    rules: realTimeAndRandomness,
  },
);
