/** Prometheus metrics. One registry per process; the queue gauge reads the database when scraped. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'switchboard_' });
  type QueueState = { depth: number; degraded: boolean };
  let queueSource: (() => Promise<QueueState>) | undefined;
  const readQueue = async () => (queueSource ? queueSource().catch(() => undefined) : undefined);
  return {
    registry,
    httpRequests: new Counter({
      name: 'switchboard_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    }),
    executions: new Counter({
      name: 'switchboard_executions_total',
      help: 'Finished execution attempts by agent and status',
      labelNames: ['agent', 'status'] as const,
      registers: [registry],
    }),
    ingestToReply: new Histogram({
      name: 'switchboard_ingest_to_reply_seconds',
      help: 'Time from receiving an event to delivering its reply',
      labelNames: ['channel'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'switchboard_queue_depth',
      help: 'Executions waiting to run (queued, or failed with a retry to come)',
      registers: [registry],
      async collect() {
        this.set((await readQueue())?.depth ?? Number.NaN);
      },
    }),
    degraded: new Gauge({
      name: 'switchboard_degraded',
      help: '1 while the queue is deeper than QUEUE_DEPTH_LIMIT (generic webhooks are shed)',
      registers: [registry],
      async collect() {
        const state = await readQueue();
        this.set(state ? Number(state.degraded) : Number.NaN);
      },
    }),
    setQueueSource(fn: () => Promise<QueueState>) {
      queueSource = fn;
    },
  };
}
