import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Generous: several tests start whole Switchboard processes, and CI machines are shared (no test asserts speed).
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
