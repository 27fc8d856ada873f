import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  plugins: [
    {
      // drizzle-orm's CommonJS build, as bin/switchboard.js loads it (db/drizzle-commonjs.ts says why).
      name: 'drizzle-orm-commonjs',
      enforce: 'pre',
      resolveId: (id) => (/^drizzle-orm(\/|$)/.test(id) ? require.resolve(id) : undefined),
    },
  ],
  test: {
    include: ['test/**/*.test.ts'],
    // Generous: several tests start whole Switchboard processes, and CI machines are shared (no test asserts speed).
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default (one less than the cores) runs files one at a time on 2 cores, while much of a file's time
    // is spent waiting on child processes and servers: two at a time at least keeps both cores busy.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
