/**
 * Backpressure: when more executions wait than the limit, the hub is degraded. Chat platforms are
 * still acknowledged (a refused platform retries, which makes a backlog worse), but low-priority
 * sources (channels with the `sheddable` trait: generic signed webhooks) are shed with 503 and
 * Retry-After until the queue drains.
 */
import { AppError } from '../errors.ts';

export type Backpressure = {
  /** Queue depth, read at most once per `ttlMs` so the ingest hot path does not count rows per request. */
  depth(): Promise<number>;
  state(): Promise<{ depth: number; limit: number; degraded: boolean }>;
  /** Throws 503 while the queue is over its limit; ingest asks it for envelopes of sheddable channels only. */
  admit(): Promise<void>;
};

export function createBackpressure(opts: { limit: number; readDepth(): Promise<number>; ttlMs?: number; now?: () => number }): Backpressure {
  const ttl = opts.ttlMs ?? 1000;
  const now = opts.now ?? Date.now;
  let cached: { at: number; value: Promise<number> } | undefined;
  const depth = () => {
    const t = now();
    if (!cached || t - cached.at >= ttl) {
      const value = opts.readDepth();
      cached = { at: t, value };
      value.catch(() => (cached = undefined));
    }
    return cached.value;
  };
  return {
    depth,
    async state() {
      const d = await depth();
      return { depth: d, limit: opts.limit, degraded: d > opts.limit };
    },
    async admit() {
      const d = await depth();
      if (d > opts.limit) {
        throw new AppError(503, 'overloaded', `${d} executions are waiting (limit ${opts.limit}); webhooks are paused until the queue drains, retry later`, {
          'Retry-After': '30',
        });
      }
    },
  };
}
