/** Health-check history and retention: what the scheduled maintenance jobs read and write. */
import { lt, sql } from 'drizzle-orm';
import type { Db } from './client.ts';
import { rowsOf } from './rows.ts';
import { deliveries, healthChecks } from './schema.ts';

export type HealthCheck = { component: string; ok: boolean; detail?: string; latencyMs?: number };

export async function recordHealthChecks(db: Db, checks: HealthCheck[]): Promise<void> {
  if (checks.length) await db.insert(healthChecks).values(checks);
}

/** The newest result per component. */
export async function latestHealthChecks(db: Db) {
  const rows = rowsOf<{ component: string; ok: boolean; detail: string | null; latency_ms: number | null; checked_at: Date | string }>(
    await db.execute(sql`select distinct on (component) component, ok, detail, latency_ms, checked_at
      from ${healthChecks} order by component, checked_at desc`),
  );
  return rows.map((r) => ({ component: r.component, ok: r.ok, detail: r.detail, latencyMs: r.latency_ms, at: new Date(r.checked_at).toISOString() }));
}

/**
 * Deletes dedup rows older than the retention window (platforms stop retrying within hours, so old
 * delivery ids can never come back) and old health-check history. Executions and messages stay.
 */
export async function purgeOld(db: Db, opts: { deliveriesBefore: Date; healthChecksBefore: Date }) {
  const purgedDeliveries = await db.delete(deliveries).where(lt(deliveries.receivedAt, opts.deliveriesBefore)).returning({ id: deliveries.id });
  const purgedChecks = await db.delete(healthChecks).where(lt(healthChecks.checkedAt, opts.healthChecksBefore)).returning({ id: healthChecks.id });
  return { deliveries: purgedDeliveries.length, healthChecks: purgedChecks.length };
}
