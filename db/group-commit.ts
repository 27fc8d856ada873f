/**
 * Group commit: concurrent ingests join one batch, which is stored in one transaction when it holds
 * `maxItems` envelopes or `maxWaitMs` after its first arrived, whichever comes first. One commit (one WAL
 * flush) then answers many requests. Each caller is answered after its batch commits. A batch that fails is
 * stored again item by item, so one bad event cannot fail the others.
 */
import type { IngestItem, IngestResult, OverQuota } from './ingest.ts';

export type GroupCommitOptions = {
  maxItems: number;
  maxWaitMs: number;
  /** Stores a batch; outcomes in the order of `items`. */
  store(items: IngestItem[]): Promise<(IngestResult | OverQuota)[]>;
  /** Whether a failed batch is worth storing item by item (not while the database is unreachable). */
  retrySingly(err: unknown): boolean;
};

type Waiting = { item: IngestItem; resolve(outcome: IngestResult | OverQuota): void; reject(err: unknown): void };

export function createGroupCommit(opts: GroupCommitOptions): (item: IngestItem) => Promise<IngestResult | OverQuota> {
  let pending: Waiting[] = [];
  let timer: NodeJS.Timeout | undefined;

  async function settle(batch: Waiting[]) {
    try {
      const outcomes = await opts.store(batch.map((w) => w.item));
      batch.forEach((w, i) => w.resolve(outcomes[i]!));
    } catch (err) {
      if (batch.length === 1 || !opts.retrySingly(err)) {
        for (const w of batch) w.reject(err);
        return;
      }
      // One after another, in arrival order: the first of two items with the same key keeps it, as in the batch.
      for (const w of batch) {
        try {
          w.resolve((await opts.store([w.item]))[0]!);
        } catch (single) {
          w.reject(single);
        }
      }
    }
  }

  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    void settle(batch);
  };

  return (item) =>
    new Promise((resolve, reject) => {
      pending.push({ item, resolve, reject });
      if (pending.length >= opts.maxItems) flush();
      else timer ??= setTimeout(flush, opts.maxWaitMs);
    });
}
