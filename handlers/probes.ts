/**
 * What a worker-role process serves: liveness, readiness and metrics only, so its executions and
 * latencies can be scraped. Ingress and /api stay on web processes.
 */
import { Hono } from 'hono';
import type { Logger } from '../src/ports.ts';
import { createErrorHandler, jsonError } from './errors.ts';
import { healthRoutes } from './health.ts';
import { countRequests } from './middleware.ts';

export function createProbeApp(deps: Parameters<typeof healthRoutes>[0] & { logger: Logger }) {
  const app = new Hono();
  app.onError(createErrorHandler(deps.logger));
  app.notFound((c) =>
    jsonError(c, 404, 'not_found', `No route for ${c.req.method} ${c.req.path}: a worker serves only /healthz, /readyz and /metrics; send it to a web process`),
  );
  app.use('*', countRequests(deps.metrics));
  app.route('/', healthRoutes(deps));
  return app;
}
