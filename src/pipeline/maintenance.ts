/**
 * Scheduled maintenance through pg-boss schedules (one per name across every process): a health
 * check of the database, queue and providers every 5 minutes into `health_checks`, and a nightly
 * retention cleanup of old dedup rows.
 */
import type { HealthCheck, Store } from '../../db/index.ts';
import type { LlmChain, Logger } from '../ports.ts';
import type { Redactor } from '../redact.ts';

export const HEALTH_CHECK_CRON = '*/5 * * * *';
export const RETENTION_CRON = '17 3 * * *';

export function createMaintenance(deps: { store: Store; llm: LlmChain; logger: Logger; retentionDays: number; now(): Date; redactor?: Redactor }) {
  const { store } = deps;

  async function healthCheck(): Promise<HealthCheck[]> {
    const started = performance.now();
    const db = await store.ready();
    const checks: HealthCheck[] = [
      {
        component: 'database',
        ok: db.database && db.migrations,
        detail: db.error ?? `${store.kind}${db.migrations ? '' : ', migrations missing'}`,
        latencyMs: Math.round(performance.now() - started),
      },
    ];
    if (db.database) checks.push({ component: 'queue', ok: true, detail: `${await store.queueDepth()} waiting` });
    for (const p of deps.llm.health()) {
      checks.push({ component: `provider:${p.name}`, ok: p.state !== 'open', detail: p.lastError ? `${p.state}; last error: ${p.lastError}` : p.state });
    }
    // a provider's last error may quote its key or a URL with credentials
    if (db.database) await store.recordHealthChecks(deps.redactor ? deps.redactor.value(checks) : checks);
    return checks;
  }

  async function retention() {
    const day = 86_400_000;
    const now = deps.now().getTime();
    const purged = await store.purgeOld({
      deliveriesBefore: new Date(now - deps.retentionDays * day),
      healthChecksBefore: new Date(now - 7 * day),
    });
    deps.logger.info({ purged }, 'retention cleanup done');
    return purged;
  }

  return {
    healthCheck,
    retention,
    async schedule() {
      await store.queue.schedule('maintenance-health', HEALTH_CHECK_CRON, async () => void (await healthCheck()));
      await store.queue.schedule('maintenance-retention', RETENTION_CRON, async () => void (await retention()));
      // One right away, so `status` has numbers before the first scheduled run.
      healthCheck().catch((err) => deps.logger.warn({ err }, 'health check failed'));
    },
  };
}
