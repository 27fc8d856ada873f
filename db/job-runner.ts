/**
 * Runs one queue's jobs continuously, up to `concurrency` at once, on pg-boss's own fetch, complete, fail and touch.
 *
 * pg-boss's worker runs a fetched batch to its end before it fetches again, so one slow job (an answer still being
 * written) kept every place its batch had taken idle: with two batches in flight, a third person's command waited
 * for one of two unrelated answers to finish, whatever the concurrency. Here each job holds one place, for as long
 * as it runs. Places freed together are filled together: a fetch takes every free place in one statement, and jobs
 * that finish together are completed in one statement, so a backlog still drains in batches.
 */
import type { Job, PgBoss } from 'pg-boss';

/** How long freed places wait for more to free up before a fetch fills them, while a backlog waits. */
const GATHER_MS = 10;

export type RunnerOptions<T> = {
  boss: PgBoss;
  queue: string;
  concurrency: number;
  /** Settles one job: resolves when done, rejects to have pg-boss retry it (or move it to its dead letter queue). */
  handler(job: Job<T>): Promise<void>;
  onError(err: Error): void;
  /** False while the database is known to be away: fetching waits for `whenUp` instead of failing every poll. */
  isUp(): boolean;
  whenUp(timeoutMs: number): Promise<boolean>;
  /** A running job's claim is refreshed at half this, so pg-boss's supervisor sees it alive. */
  leaseSeconds: number;
  /** How often to look for jobs when nothing signals (retries whose delay has passed, a missed signal). */
  pollMs: number;
};

export type Runner = {
  /** New jobs may be waiting: fetch now instead of at the next poll. */
  wake(): void;
  /** Stops fetching and waits up to `timeoutMs` for running jobs; any still running are failed, so another worker retries them. */
  stop(graceful: boolean, timeoutMs: number): Promise<void>;
};

export function startRunner<T>(opts: RunnerOptions<T>): Runner {
  const { boss, queue, concurrency } = opts;
  const running = new Set<Job<T>>();
  let stopping = false;
  let woken = true;
  /** The last fetch filled every free place: more jobs are likely waiting. */
  let full = false;
  let nextPollAt = 0;
  let gatherUntil: number | undefined;
  let nudge: (() => void) | undefined;
  const napped = () => {
    const n = nudge;
    nudge = undefined;
    n?.();
  };
  const nap = (ms: number | undefined) =>
    new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(resolve, Math.max(0, ms));
      nudge = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  // Jobs that finished and wait for their one shared `complete`; their places are freed once it is written.
  let finished: Job<T>[] = [];
  let completing: Promise<void> | undefined;
  const complete = () => {
    if (completing || !finished.length) return;
    const jobs = finished;
    finished = [];
    completing = boss
      .complete(queue, jobs)
      .then(
        () => {},
        (err: Error) => opts.onError(err),
      )
      .finally(() => {
        for (const job of jobs) running.delete(job);
        completing = undefined;
        complete();
        napped();
      });
  };
  /** Until every finished job's `complete` is written (one may start another). */
  const settled = async () => {
    while (completing) await completing;
  };
  const fail = async (job: Job<T>, err: unknown) => {
    try {
      await boss.fail(queue, job, { message: err instanceof Error ? err.message : String(err) });
    } catch (failed) {
      opts.onError(failed as Error);
    } finally {
      running.delete(job);
      napped();
    }
  };
  /** Set once stop() has failed what was still running: those jobs are another worker's now. */
  let abandoned = false;
  const run = (job: Job<T>) => {
    running.add(job);
    opts.handler(job).then(
      () => {
        if (abandoned) return;
        finished.push(job);
        complete();
      },
      (err: unknown) => (abandoned ? undefined : fail(job, err)),
    );
  };

  const heartbeat = setInterval(
    () => {
      if (running.size) boss.touch(queue, [...running]).catch((err: Error) => opts.onError(err));
    },
    (opts.leaseSeconds * 1000) / 2,
  );
  heartbeat.unref();

  const loop = (async () => {
    while (!stopping) {
      const free = concurrency - running.size;
      if (free > 0 && (woken || full || Date.now() >= nextPollAt)) {
        // Behind a backlog, places freed within a few milliseconds are filled together (up to half of them): a
        // fetch per freed place would cost the database more than the jobs themselves.
        if (full && free < concurrency / 2) {
          gatherUntil ??= Date.now() + GATHER_MS;
          if (Date.now() < gatherUntil) {
            await nap(gatherUntil - Date.now());
            continue;
          }
        }
        gatherUntil = undefined;
        if (!opts.isUp()) {
          await opts.whenUp(opts.pollMs);
          continue;
        }
        woken = false;
        nextPollAt = Date.now() + opts.pollMs;
        try {
          const jobs = await boss.fetch<T>(queue, { batchSize: free });
          full = jobs.length === free;
          for (const job of jobs) run(job);
        } catch (err) {
          full = false;
          opts.onError(err as Error);
        }
        continue;
      }
      // Woken by a signal, a freed place or the next poll, whichever comes first.
      await nap(free > 0 ? nextPollAt - Date.now() : undefined);
    }
  })();

  return {
    wake() {
      woken = true;
      napped();
    },
    async stop(graceful, timeoutMs) {
      stopping = true;
      napped();
      await loop;
      const deadline = Date.now() + (graceful ? timeoutMs : 0);
      while (running.size && Date.now() < deadline) await nap(deadline - Date.now());
      clearInterval(heartbeat);
      await settled();
      // Still running: failed now, so another worker retries them; this one's later `complete` is then refused.
      const left = [...running];
      abandoned = true;
      if (left.length) {
        await boss.fail(queue, left, { message: 'the worker stopped before this attempt finished' }).catch((err: Error) => opts.onError(err));
      }
    },
  };
}
