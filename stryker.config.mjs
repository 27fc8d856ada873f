// Mutation testing (`npm run mutate`): Stryker changes one thing at a time in the modules whose bugs cost the most
// and checks that some test fails. Not part of `npm test` or CI: it runs the related tests once per mutant.
// MUTATE_CONCURRENCY sets parallel test runners (default 1: each one starts databases); MUTATE_TESTS narrows the
// test files (comma-separated globs, see vitest.mutate.config.ts); `npx stryker run --mutate <file>` narrows the code.
const concurrency = Number(process.env.MUTATE_CONCURRENCY ?? 1);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts', related: false },
  coverageAnalysis: 'perTest',
  mutate: [
    'channels/*/verify.ts',
    'channels/*/normalize.ts',
    'db/ingest.ts',
    // The routing-rule matcher (event patterns, the source's older spellings) and the rules' store.
    'db/rules.ts',
    'src/pipeline/*.ts',
    'src/classify.ts',
    'src/split.ts',
    // Slack's measure for the shared splitter (`fitting`); keep this range on that function when the file changes.
    'channels/slack/reply.ts:27-39',
    'src/logger.ts',
    'src/redact.ts',
    'src/access/**/*.ts',
  ],
  ignorePatterns: ['reports', '.data', 'bench-results', 'coverage'],
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  reporters: ['html', 'json', 'clear-text', 'progress'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: false },
  concurrency: Number.isInteger(concurrency) && concurrency > 0 ? concurrency : 1,
  // A mutant that makes a test loop forever is "timed out" (counted as killed) this long past the test's normal time.
  timeoutMS: 10_000,
  // A mutant of a module-level constant needs every test file reloaded; on two cores that is most of the run time.
  // Set MUTATE_STATIC=1 to include them.
  ignoreStatic: process.env.MUTATE_STATIC !== '1',
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
