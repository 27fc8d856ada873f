/**
 * Group commit: concurrent calls join one batch, which is written in one transaction (one commit, one WAL
 * flush) when it holds `maxItems` items or `maxWaitMs` after its first arrived, whichever comes first (with
 * `maxWaitMs` 0, once the turn of the event loop its first arrived in is over: what arrived together). Each
 * caller is answered after its batch commits. A batch that fails is written again item by item, so one bad
 * item cannot fail the others.
 */
export type GroupCommitOptions<I, O> = {
  maxItems: number;
  maxWaitMs: number;
  /** Writes a batch; outcomes in the order of `items`. */
  write(items: I[]): Promise<O[]>;
  /** Whether a failed batch is worth writing item by item (not while the database is unreachable). */
  retrySingly(err: unknown): boolean;
};

type Waiting<I, O> = { item: I; resolve(outcome: O): void; reject(err: unknown): void };

export function createGroupCommit<I, O>(opts: GroupCommitOptions<I, O>): (item: I) => Promise<O> {
  let pending: Waiting<I, O>[] = [];
  let timer: { cancel(): void } | undefined;
  const later = (fn: () => void) => {
    if (opts.maxWaitMs > 0) {
      const t = setTimeout(fn, opts.maxWaitMs);
      return { cancel: () => clearTimeout(t) };
    }
    const i = setImmediate(fn);
    return { cancel: () => clearImmediate(i) };
  };

  async function settle(batch: Waiting<I, O>[]) {
    try {
      const outcomes = await opts.write(batch.map((w) => w.item));
      for (const [i, w] of batch.entries()) w.resolve(outcomes[i]!);
    } catch (err) {
      if (batch.length === 1 || !opts.retrySingly(err)) {
        for (const w of batch) w.reject(err);
        return;
      }
      // One after another, in arrival order: the first of two items with the same key keeps it, as in the batch.
      for (const w of batch) {
        try {
          w.resolve((await opts.write([w.item]))[0]!);
        } catch (single) {
          w.reject(single);
        }
      }
    }
  }

  const flush = () => {
    timer?.cancel();
    timer = undefined;
    const batch = pending;
    pending = [];
    void settle(batch);
  };

  return (item) =>
    new Promise((resolve, reject) => {
      pending.push({ item, resolve, reject });
      if (pending.length >= opts.maxItems) flush();
      else timer ??= later(flush);
    });
}
