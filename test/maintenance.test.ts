import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../db/rows.ts';
import { createChain, createOfflineProvider } from '../src/llm/index.ts';
import { createLogger } from '../src/logger.ts';
import { createMaintenance } from '../src/pipeline/maintenance.ts';
import { databaseKinds } from './support/databases.ts';
import { signedHook, startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';

describe.each(databaseKinds)('scheduled maintenance on %s', (kind) => {
  let sb: TestSwitchboard;
  beforeAll(async () => {
    sb = await startTestSwitchboard(kind);
  });
  afterAll(async () => sb?.close());

  const maintenance = () =>
    createMaintenance({
      store: sb.opened.store,
      llm: createChain([createOfflineProvider()], { logger: createLogger('silent') }),
      logger: createLogger('silent'),
      retentionDays: 30,
      now: () => new Date(),
    });

  it('registers the health check every 5 minutes and a nightly retention cleanup', async () => {
    const schedules = await sb.opened.store.queue.boss.getSchedules();
    const cron = Object.fromEntries(schedules.map((s) => [s.name, s.cron]));
    expect(Object.keys(cron).sort()).toEqual(['maintenance-health', 'maintenance-retention']);
    // The promise made to operators, written out: a constant compared with itself could never fail.
    expect(cron['maintenance-health']).toBe('*/5 * * * *');
    // Once a day: a fixed minute and hour, every day.
    expect(cron['maintenance-retention']).toMatch(/^\d{1,2} \d{1,2} \* \* \*$/);
  });

  it('records database, queue and provider health, and status shows it', async () => {
    const checks = await maintenance().healthCheck();
    expect(checks.map((c) => c.component)).toEqual(['database', 'queue', 'provider:offline']);
    expect(checks.every((c) => c.ok)).toBe(true);
    const latest = await sb.opened.store.latestHealthChecks();
    expect(latest.find((c) => c.component === 'database')).toMatchObject({ ok: true });
    const status = await sb.api('POST', '/api/messages?wait=1', { text: 'status', user_id: 'ops' });
    expect(status.body.reply.text).toMatch(/Health checks: database ok/);
  });

  it('deletes dedup rows past retention and keeps recent ones deduplicating', async () => {
    const old = await sb.app.request('/hooks/ci', signedHook({ text: 'old' }, { id: 'msg_old' }));
    const recent = await sb.app.request('/hooks/ci', signedHook({ text: 'recent' }, { id: 'msg_recent' }));
    expect([old.status, recent.status]).toEqual([202, 202]);
    await sb.opened.handle.db.execute(sql`update deliveries set received_at = now() - interval '40 days' where delivery_id like '%msg_old'`);
    const purged = await maintenance().retention();
    expect(purged.deliveries).toBe(1);
    const left = rowsOf<{ delivery_id: string }>(await sb.opened.handle.db.execute(sql`select delivery_id from deliveries`)).map((r) => r.delivery_id);
    // The stored key may carry the channel's own prefix (hooks prefix the source): match on the webhook-id.
    expect(left.filter((id) => id.endsWith('msg_recent'))).toHaveLength(1);
    expect(left.filter((id) => id.endsWith('msg_old'))).toHaveLength(0);
    const again = await sb.app.request('/hooks/ci', signedHook({ text: 'recent' }, { id: 'msg_recent' }));
    expect(((await again.json()) as any).duplicate).toBe(true);
  });
});
