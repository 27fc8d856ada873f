/**
 * The executions runner on pg-boss (PGlite): each job holds one place while it runs, its claim is refreshed while
 * it runs, and jobs still running when the runner stops are handed back for another worker.
 */
import { PGlite } from '@electric-sql/pglite';
import { fromPglite, PgBoss, type Job } from 'pg-boss';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRunner, type Runner } from '../db/job-runner.ts';
import { waitFor } from './support/wait.ts';

let pglite: PGlite;
let boss: PgBoss;
beforeAll(async () => {
  pglite = await PGlite.create();
  boss = new PgBoss({ db: fromPglite(pglite), backend: 'pglite', migrate: true, supervise: false, schedule: false });
  await boss.start();
});
afterAll(async () => {
  await boss.stop({ graceful: false, close: false });
  await pglite.close();
});

type Gate = { job: Job<{ n: number }>; open(): void; fail(err: Error): void };

/** A runner whose handler waits until the test opens each job's gate. */
function gated(queue: string, concurrency: number, leaseSeconds = 20) {
  const gates: Gate[] = [];
  const errors: Error[] = [];
  const runner: Runner = startRunner<{ n: number }>({
    boss,
    queue,
    concurrency,
    handler: (job) =>
      new Promise<void>((resolve, reject) => {
        gates.push({ job, open: resolve, fail: reject });
      }),
    onError: (err) => errors.push(err),
    isUp: () => true,
    whenUp: async () => true,
    leaseSeconds,
    pollMs: 100,
  });
  return { runner, gates, errors };
}

const stateOf = async (queue: string, n: number) =>
  (
    await pglite.query<{ state: string; retry_count: number; heartbeat_on: Date | null }>(
      `select state, retry_count, heartbeat_on from pgboss.job where name = $1 and (data->>'n')::int = $2`,
      [queue, n],
    )
  ).rows[0]!;

it('fills a freed place with the next job while the other places are still running', async () => {
  await boss.createQueue('places');
  for (let n = 1; n <= 4; n++) await boss.send('places', { n });
  const { runner, gates, errors } = gated('places', 3);
  try {
    await waitFor(
      () => gates.length,
      (l) => l === 3,
    );
    expect(gates.map((g) => g.job.data.n).sort()).toEqual([1, 2, 3]);
    // One finishes; the fourth job starts while the two others still run.
    gates.find((g) => g.job.data.n === 2)!.open();
    await waitFor(
      () => gates.length,
      (l) => l === 4,
    );
    expect(gates[3]!.job.data.n).toBe(4);
    expect((await stateOf('places', 2)).state).toBe('completed');
    expect((await stateOf('places', 1)).state).toBe('active');
    for (const g of gates) g.open();
    await waitFor(
      async () => (await stateOf('places', 4)).state,
      (s) => s === 'completed',
    );
    expect((await stateOf('places', 4)).state).toBe('completed');
  } finally {
    await runner.stop(true, 5000);
  }
  expect(errors).toEqual([]);
});

it('refreshes the claim of a job while it runs, and fails a job whose handler failed so the queue retries it', async () => {
  await boss.createQueue('claims', { heartbeatSeconds: 10, retryLimit: 1, retryDelay: 0 });
  await boss.send('claims', { n: 1 });
  const { runner, gates } = gated('claims', 2, 0.2);
  try {
    await waitFor(
      () => gates.length,
      (l) => l === 1,
    );
    const first = (await stateOf('claims', 1)).heartbeat_on!;
    const later = await waitFor(
      async () => (await stateOf('claims', 1)).heartbeat_on!,
      (at) => at > first,
    );
    expect(later.getTime()).toBeGreaterThan(first.getTime());
    gates[0]!.fail(new Error('the agent failed'));
    // Retried: fetched again, as its second attempt.
    await waitFor(
      () => gates.length,
      (l) => l === 2,
    );
    expect(gates[1]!.job.data.n).toBe(1);
    expect((await stateOf('claims', 1)).retry_count).toBe(1);
    gates[1]!.open();
  } finally {
    await runner.stop(true, 5000);
  }
});

it('on stop, waits for running jobs up to its timeout, then hands back the ones still running', async () => {
  await boss.createQueue('stopping', { retryLimit: 2, retryDelay: 0 });
  for (let n = 1; n <= 2; n++) await boss.send('stopping', { n });
  const { runner, gates } = gated('stopping', 2);
  await waitFor(
    () => gates.length,
    (l) => l === 2,
  );
  const one = gates.find((g) => g.job.data.n === 1)!;
  const stopped = runner.stop(true, 300);
  one.open(); // finishes within the timeout: completed
  await stopped;
  expect((await stateOf('stopping', 1)).state).toBe('completed');
  // Never finished: back in the queue for another worker, as a retry.
  expect((await stateOf('stopping', 2)).state).toBe('retry');
  // Its handler finishing later does not complete what is now another worker's.
  gates.find((g) => g.job.data.n === 2)!.open();
  await new Promise((r) => setTimeout(r, 50));
  expect((await stateOf('stopping', 2)).state).toBe('retry');
});
