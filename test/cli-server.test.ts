/** CLI verbs on a PostgreSQL server with no worker running: they answer in-process, as the README promises. */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';
import { runCliInProcess as runCli } from './support/cli.ts';
import { ADMIN_TOKEN, HOOK_SECRET } from './support/switchboard.ts';

describe.skipIf(!process.env.DATABASE_URL)('CLI on a PostgreSQL server without a worker', { timeout: 180_000 }, () => {
  let db: TestDatabase;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    // A short wait: without an in-process worker the verb would give up within it instead of answering.
    env = { ...db.env, ADMIN_TOKEN, HOOK_SECRET_CI: HOOK_SECRET, REPLY_WAIT_SECONDS: '5' };
  });
  afterAll(async () => db?.drop());

  async function waitingJobs(): Promise<number> {
    const sql = postgres(db.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    try {
      const [row] = await sql`select count(*)::int as n from pgboss.job where name = 'executions' and state < 'completed'`;
      return row!.n as number;
    } finally {
      await sql.end();
    }
  }

  it('simulate web "help" runs its own execution and leaves no job behind', async () => {
    const { code, output } = await runCli(['simulate', 'web', 'help'], env);
    expect(output).toMatch(/summarize/);
    expect(output).not.toMatch(/worker/);
    expect(code).toBe(0);
    expect(await waitingJobs()).toBe(0);
  });

  it('simulate hooks/<source> and replay answer in-process too', async () => {
    const hook = await runCli(['simulate', 'hooks/ci', '{"type":"deploy.finished","agent":"status"}'], env);
    expect(hook.output).toMatch(/queue/i);
    expect(hook.code).toBe(0);

    const list = await runCli(['executions', '--json'], env);
    const [latest] = JSON.parse(list.output);
    expect(latest).toMatchObject({ agent: 'status', status: 'succeeded', attempts: 1 });

    const replay = await runCli(['replay', latest.id], env);
    expect(replay.output).toContain(`replayed ${latest.id} as`);
    expect(replay.code).toBe(0);
    expect(await waitingJobs()).toBe(0);
  });
});
