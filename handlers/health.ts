/** Liveness, readiness and Prometheus metrics. */
import { Hono } from 'hono';
import type { Store } from '../db/index.ts';
import type { Metrics } from '../src/metrics.ts';
import type { ProviderHealth } from '../src/ports.ts';

export function healthRoutes(deps: { store: Store; metrics: Metrics; providers(): ProviderHealth[] }) {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const db = await deps.store.ready();
    const ready = db.database && db.migrations;
    const checks = {
      database: { ok: db.database, kind: deps.store.kind, ...(db.error ? { error: db.error } : {}) },
      migrations: { ok: db.migrations },
      providers: deps.providers(),
    };
    return c.json({ status: ready ? 'ready' : 'not_ready', checks }, ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    c.header('Content-Type', deps.metrics.registry.contentType);
    return c.body(await deps.metrics.registry.metrics());
  });
  return app;
}
