/**
 * The tests Stryker runs against each mutant (`npm run mutate`): the suite without the tests that start Switchboard
 * as a separate process, which cannot see a mutant switched on inside the test runner.
 * MUTATE_TESTS narrows it to some files, e.g. `MUTATE_TESTS=test/classify.test.ts,test/slack-*.test.ts`.
 * MUTATE_NAMES narrows it to the tests whose names match a regular expression, e.g. to leave out the suites of a file
 * that start a Switchboard per test (tens of seconds per mutant): `MUTATE_NAMES='^(the redactor|the logger)'`.
 */
import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

const names = process.env.MUTATE_NAMES || undefined;
const only = process.env.MUTATE_TESTS?.split(',')
  .map((glob) => glob.trim())
  .filter(Boolean);

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    // Stryker's dry run fails on any failed test; on a busy machine a database start can pass 30 s.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    include: only?.length ? only : ['test/**/*.test.ts'],
    testNamePattern: names,
    exclude: ['test/e2e.test.ts', 'test/durability.test.ts', 'test/telegram-cli.test.ts', '**/node_modules/**'],
  },
});
