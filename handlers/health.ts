/** Liveness, readiness and Prometheus metrics. */
import { Hono } from 'hono';
import type { Store } from '../db/index.ts';
import type { Metrics } from '../src/metrics.ts';
import type { ProviderHealth } from '../src/ports.ts';

export function healthRoutes(deps: {
  store: Store;
  metrics: Metrics;
  providers(): ProviderHealth[];
  queue(): Promise<{ depth: number; limit: number; degraded: boolean }>;
}) {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const db = await deps.store.ready();
    const ready = db.database && db.migrations;
    // A deep queue degrades but does not fail readiness: taking instances out of rotation would
    // make platforms retry into the remaining ones.
    const queue = ready ? await deps.queue().catch(() => undefined) : undefined;
    const health = deps.store.health.snapshot();
    const checks = {
      queue: queue ? { ok: !queue.degraded, depth: queue.depth, limit: queue.limit } : { ok: false },
      database: {
        ok: db.database,
        kind: deps.store.kind,
        ...(db.error ? { error: db.error } : {}),
        ...(db.busy ? { busy: true } : {}),
        // The current or last outage, and the deliveries refused meanwhile (GitHub's are not sent again by itself).
        ...(health.outage ? { outage: health.outage } : {}),
        ...(health.refused ? { refused: health.refused } : {}),
      },
      // Unknown while the database does not answer: only the database check is named as failing then.
      migrations: db.database ? { ok: db.migrations } : { ok: false, unknown: true },
      providers: deps.providers(),
    };
    const failing = !db.database ? ['database'] : !db.migrations ? ['migrations'] : [];
    const status = !ready ? 'not_ready' : queue?.degraded ? 'degraded' : 'ready';
    if (!ready) c.header('Retry-After', '5');
    return c.json({ status, ...(failing.length ? { failing } : {}), checks }, ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    c.header('Content-Type', deps.metrics.registry.contentType);
    return c.body(await deps.metrics.registry.metrics());
  });
  return app;
}
