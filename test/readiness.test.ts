import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from './support/databases.ts';
import { startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';

describe.each(databaseKinds)('readiness on %s', (kind) => {
  let sb: TestSwitchboard;
  beforeAll(async () => {
    sb = await startTestSwitchboard(kind);
  });
  afterAll(async () => sb?.close());

  it('is ready while the database answers with every migration applied', async () => {
    const res = await sb.app.request('/readyz');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ready', checks: { database: { ok: true, kind }, migrations: { ok: true } } });
  });

  it('answers 503 and says which check failed when a migration is missing', async () => {
    // As if this process were started against a database an older release migrated.
    await sb.opened.handle.db.execute(sql`delete from drizzle.__drizzle_migrations where id = (select max(id) from drizzle.__drizzle_migrations)`);
    const res = await sb.app.request('/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'not_ready', checks: { database: { ok: true }, migrations: { ok: false } } });
  });
});
