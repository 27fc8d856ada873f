import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { startSwitchboard, type Switchboard } from '../src/server.ts';
import { ADMIN_TOKEN, startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';
import { waitFor } from './support/wait.ts';

// Waking workers in other processes only exists on a server: embedded mode is one process.
describe.runIf(process.env.DATABASE_URL)('waking workers across processes on postgres', () => {
  let web: TestSwitchboard;
  let worker: Switchboard;
  let listener: postgres.Sql;
  const signals: number[] = [];
  beforeAll(async () => {
    web = await startTestSwitchboard('postgres', {}, { role: 'web' });
    worker = await startSwitchboard(loadConfig({ ADMIN_TOKEN, LOG_LEVEL: 'silent', ...web.database.env }), {
      role: 'worker',
      listen: false,
      logger: createLogger('silent'),
    });
    listener = postgres(web.database.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    await listener.listen('switchboard_executions', () => signals.push(Date.now()));
  });
  afterAll(async () => {
    await listener?.end();
    await worker?.stop();
    await web?.close();
  });

  it('a web process signals after commit, and the job itself carries no transactional NOTIFY', async () => {
    const res = await web.api('POST', '/api/messages', { text: 'help', user_id: 'waker' });
    expect(res.status).toBe(202);
    expect(
      await waitFor(
        () => signals.length,
        (n) => n > 0,
        5_000,
      ),
    ).toBeGreaterThanOrEqual(1);
    // A transactional pg_notify per job would serialize every ingest commit on PostgreSQL's notify lock.
    const [queue] = await listener`select notify from pgboss.queue where name = 'executions'`;
    expect(queue!.notify).toBe(false);
    const row = await web.waiter.wait(res.body.execution_id, 30_000);
    expect(row?.status).toBe('succeeded');
  });
});
