import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { startSwitchboard } from '../src/server.ts';
import { createTestDatabase } from './support/databases.ts';
import { ADMIN_TOKEN, HOOK_SECRET, RELAXED_ACCESS_ENV, signedHook } from './support/switchboard.ts';

const EXECUTIONS = 200;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Commits are what a drain pays for on PostgreSQL (each one a WAL flush); PGlite has no such counter.
describe.skipIf(!process.env.DATABASE_URL)('draining offline executions on PostgreSQL', () => {
  // `ask` reads the conversation's history; `status` reads the queue, the last hour and the recent failures.
  it.each(['ask', 'status'])('%s costs at most two commits per execution, its start, answer and success included', { timeout: 180_000 }, async (agent) => {
    const database = await createTestDatabase('postgres');
    const name = new URL(database.env.DATABASE_URL!).pathname.slice(1);
    // The counters are read over a connection to another database, so reading them commits nothing in this one.
    const stats = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    const commits = async () => Number((await stats`select xact_commit::bigint as n from pg_stat_database where datname = ${name}`)[0]!.n);
    const config = loadConfig({ ADMIN_TOKEN, HOOK_SECRET_CI: HOOK_SECRET, LOG_LEVEL: 'silent', ...RELAXED_ACCESS_ENV, ...database.env });
    const watch = postgres(database.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    try {
      // Stored by a web process that runs nothing: each event is for `agent`, on a channel that delivers nothing.
      const web = await startSwitchboard(config, { role: 'web', listen: false, logger: createLogger('silent') });
      for (let i = 0; i < EXECUTIONS; i += 50) {
        const answers = await Promise.all(
          Array.from({ length: 50 }, (_, n) => web.app.request('/hooks/ci', signedHook({ type: 'ci.finished', agent, text: `build ${i + n} finished` }))),
        );
        expect(answers.map((a) => a.status)).toEqual(answers.map(() => 202));
      }
      await web.stop();
      // A backend publishes its counters when it goes idle (at most a second later) and when it exits.
      await sleep(1500);
      const before = await commits();

      const worker = await startSwitchboard(config, { role: 'worker', listen: false, logger: createLogger('silent') });
      let polls = 0;
      for (;;) {
        polls++;
        const [row] = await watch`select count(*) filter (where status = 'succeeded' and agent = ${agent} and result is not null)::int as done from executions`;
        if (row!.done === EXECUTIONS) break;
        await sleep(200);
      }
      await worker.stop();
      await watch.end();
      await sleep(1500);
      // The worker's start and stop (migrations check, queue setup, maintenance schedule) count against the drain too.
      const perExecution = ((await commits()) - before - polls) / EXECUTIONS;
      expect(perExecution).toBeLessThanOrEqual(2);
    } finally {
      await watch.end().catch(() => {});
      await stats.end();
      await database.drop();
    }
  });
});
