/** Prometheus metrics. One registry per process; the queue gauge reads the database when scraped. */
import { Counter, type CounterConfiguration, Gauge, Histogram, type HistogramConfiguration, Registry, collectDefaultMetrics } from 'prom-client';
import type { LlmEvent } from './llm/index.ts';
import type { ProviderHealth } from './ports.ts';

const BREAKER_STATE: Record<ProviderHealth['state'], number> = { closed: 0, 'half-open': 1, open: 2 };

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * A metric's child per label set, made once: prom-client's `inc(labels)` and `observe(labels)` hash and check the
 * label object on every call, its `labels(...)` children do not. Few label sets exist (agents, channels, providers).
 */
function prepared<L extends string, C>(names: readonly L[], make: (labels: Record<L, string>) => C): (labels: Record<L, string>) => C {
  const children = new Map<string, C>();
  return (labels) => {
    const key = names.map((name) => labels[name]).join('\u0000');
    let child = children.get(key);
    if (child === undefined) {
      child = make(labels);
      children.set(key, child);
    }
    return child;
  };
}

/** A counter whose `inc(labels, n)` goes to a child prepared once per label set (its `labelNames`). */
function preparedCounter<L extends string>(config: CounterConfiguration<L> & { labelNames: readonly L[] }) {
  const counter = new Counter(config);
  const child = prepared(config.labelNames, (labels) => counter.labels(labels));
  return { inc: (labels: Record<L, string>, value?: number) => child(labels).inc(value), get: () => counter.get() };
}

/** A histogram whose `observe(labels, v)` goes to a child prepared once per label set. */
function preparedHistogram<L extends string>(config: HistogramConfiguration<L> & { labelNames: readonly L[] }) {
  const histogram = new Histogram(config);
  const child = prepared(config.labelNames, (labels) => histogram.labels(labels));
  return { observe: (labels: Record<L, string>, value: number) => child(labels).observe(value), get: () => histogram.get() };
}

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'switchboard_' });
  type QueueState = { depth: number; degraded: boolean };
  let queueSource: (() => Promise<QueueState>) | undefined;
  const readQueue = async () => (queueSource ? queueSource().catch(() => undefined) : undefined);
  let providerSource: (() => ProviderHealth[]) | undefined;
  type DatabaseState = { up: boolean; errors: Record<'down' | 'busy', number> };
  let databaseSource: (() => DatabaseState) | undefined;
  new Gauge({
    name: 'switchboard_database_up',
    help: '1 while this process reaches the database, 0 during an outage (requests that need it get 503, workers pause)',
    registers: [registry],
    collect() {
      const state = databaseSource?.();
      this.set(state ? Number(state.up) : Number.NaN);
    },
  });
  new Counter({
    name: 'switchboard_database_errors_total',
    help: 'Database errors by kind: down (connection refused, lost or timed out) and busy (no free connection in time, statement timeout)',
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      // The count lives in the database health monitor, which sees every error; mirror it here.
      const errors = databaseSource?.().errors;
      if (!errors) return;
      this.reset();
      for (const kind of ['down', 'busy'] as const) this.inc({ kind }, errors[kind]);
    },
  });
  // Counted per request in a map and handed to prom-client when scraped: its `inc` hashes and validates the label
  // object on every call. Few label sets exist (route patterns, not paths).
  const requestCounts = new Map<string, { labels: Record<'method' | 'route' | 'status', string>; n: number }>();
  new Counter({
    name: 'switchboard_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const { labels, n } of requestCounts.values()) this.inc(labels, n);
    },
  });
  const llmCalls = preparedCounter({
    name: 'switchboard_llm_calls_total',
    help: 'Calls to each LLM provider by outcome (success, failure, skipped: circuit open or out of time)',
    labelNames: ['provider', 'outcome'] as const,
    registers: [registry],
  });
  const llmErrors = preparedCounter({
    name: 'switchboard_llm_errors_total',
    help: 'Failed or skipped LLM provider calls by kind (rate_limited, overloaded, server, timeout, network, circuit_open …)',
    labelNames: ['provider', 'kind'] as const,
    registers: [registry],
  });
  const llmRetries = preparedCounter({
    name: 'switchboard_llm_retries_total',
    help: 'Retried LLM provider attempts (429, 5xx, 529, network)',
    labelNames: ['provider'] as const,
    registers: [registry],
  });
  const llmTokens = preparedCounter({
    name: 'switchboard_llm_tokens_total',
    help: 'Tokens used by provider and direction (input, output)',
    labelNames: ['provider', 'direction'] as const,
    registers: [registry],
  });
  const llmCost = preparedCounter({
    name: 'switchboard_llm_cost_usd_total',
    help: 'Estimated LLM cost in US dollars by provider (price table, LLM_PRICES)',
    labelNames: ['provider'] as const,
    registers: [registry],
  });
  const llmDuration = preparedHistogram({
    name: 'switchboard_llm_call_seconds',
    help: 'Duration of successful LLM provider calls, retries included',
    labelNames: ['provider'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60],
    registers: [registry],
  });
  new Gauge({
    name: 'switchboard_llm_provider_state',
    help: 'Circuit breaker state per LLM provider: 0 closed, 1 half-open (probing), 2 open (skipped)',
    labelNames: ['provider'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const p of providerSource?.() ?? []) this.set({ provider: p.name }, BREAKER_STATE[p.state]);
    },
  });
  return {
    registry,
    /** Counts one answered request. A plain count per label set, mirrored into the counter when scraped. */
    countRequest(method: string, route: string, status: number) {
      const key = `${method} ${status} ${route}`;
      const seen = requestCounts.get(key);
      if (seen) seen.n++;
      else requestCounts.set(key, { labels: { method, route, status: String(status) }, n: 1 });
    },
    executions: preparedCounter({
      name: 'switchboard_executions_total',
      help: 'Finished execution attempts by agent and status',
      labelNames: ['agent', 'status'] as const,
      registers: [registry],
    }),
    accessDenied: preparedCounter({
      name: 'switchboard_access_denied_total',
      help: 'Messages the access policy refused (nothing stored), by channel and reason (pairing, not_member, role, quota …)',
      labelNames: ['channel', 'reason'] as const,
      registers: [registry],
    }),
    ingestToReply: preparedHistogram({
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
    setDatabaseSource(fn: () => DatabaseState) {
      databaseSource = fn;
    },
    setProviderSource(fn: () => ProviderHealth[]) {
      providerSource = fn;
    },
    /** Feeds the chain's events (calls, retries, breaker changes) into the LLM metrics. */
    recordLlm(e: LlmEvent) {
      if (e.type === 'retry') llmRetries.inc({ provider: e.provider });
      if (e.type !== 'call') return;
      llmCalls.inc({ provider: e.provider, outcome: e.outcome });
      if (e.outcome !== 'success') return llmErrors.inc({ provider: e.provider, kind: e.errorKind ?? 'unknown' });
      llmDuration.observe({ provider: e.provider }, e.ms / 1000);
      llmTokens.inc({ provider: e.provider, direction: 'input' }, e.inputTokens ?? 0);
      llmTokens.inc({ provider: e.provider, direction: 'output' }, e.outputTokens ?? 0);
      llmCost.inc({ provider: e.provider }, e.costUsd ?? 0);
    },
  };
}
