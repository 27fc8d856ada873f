/** Per-user token buckets: `burst` messages at once, refilled at `perMinute`. In memory, per process. */
export type RateLimiter = { take(key: string): { ok: true } | { ok: false; retryAfterSeconds: number } };

export function createRateLimiter(opts: { perMinute: number; burst: number; now?: () => number; maxKeys?: number }): RateLimiter {
  const now = opts.now ?? Date.now;
  const ratePerMs = opts.perMinute / 60_000;
  const maxKeys = opts.maxKeys ?? 100_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    take(key) {
      const t = now();
      const bucket = buckets.get(key) ?? { tokens: opts.burst, at: t };
      bucket.tokens = Math.min(opts.burst, bucket.tokens + (t - bucket.at) * ratePerMs);
      bucket.at = t;
      // Re-insert so Map order is least-recently-used first, and the oldest key is evicted at the cap.
      buckets.delete(key);
      buckets.set(key, bucket);
      if (buckets.size > maxKeys) buckets.delete(buckets.keys().next().value!);
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return { ok: true };
      }
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerMs / 1000)) };
    },
  };
}
