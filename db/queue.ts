/**
 * The job queue: pg-boss on the same database, so a job and the execution row it runs commit together.
 */
import { sql } from 'drizzle-orm';
import { PgBoss, fromDrizzle, fromPglite, type Job } from 'pg-boss';
import type { DatabaseHandle, Db } from './client.ts';

export const EXECUTIONS_QUEUE = 'executions';

export type ExecutionJob = { executionId: string };

export type QueueOptions = {
  maxAttempts: number;
  retryDelaySeconds: number;
  jobTimeoutSeconds: number;
  /** Off for processes that only enqueue (web role, CLI): they need no maintenance loops. */
  supervise: boolean;
  onError(err: Error): void;
  /** Server mode: pg-boss keeps its own small pool, with a dedicated LISTEN connection. */
  databaseUrl?: string;
  poolSize?: number;
};

export type Queue = {
  boss: PgBoss;
  /** Enqueues inside the caller's transaction so the job and the execution row commit together. */
  enqueue(tx: Db, job: ExecutionJob): Promise<void>;
  /** Registers the executions handler; returns the worker id for in-process wake-ups. */
  work(concurrency: number, handler: (job: Job<ExecutionJob>) => Promise<void>): Promise<string>;
  /** Wakes local workers now instead of at their next poll. */
  wake(): void;
  stop(graceful: boolean, timeoutMs: number): Promise<void>;
};

export async function startQueue(handle: DatabaseHandle, opts: QueueOptions): Promise<Queue> {
  const common = {
    supervise: opts.supervise,
    schedule: opts.supervise,
    migrate: true,
    useListenNotify: true,
    warningQueueSize: 10_000,
  };
  const boss = handle.pglite
    ? new PgBoss({ ...common, db: fromPglite(handle.pglite), backend: 'pglite' })
    : new PgBoss({ ...common, connectionString: opts.databaseUrl, max: opts.poolSize, application_name: 'switchboard-queue' });
  boss.on('error', opts.onError);
  await boss.start();
  await boss.createQueue(EXECUTIONS_QUEUE, {
    retryLimit: opts.maxAttempts - 1,
    retryDelay: opts.retryDelaySeconds,
    retryBackoff: true,
    retryDelayMax: 300,
    expireInSeconds: opts.jobTimeoutSeconds,
    notify: true,
  }).catch(async (err: Error) => {
    // Another process created it first; keep its options in step with ours.
    if (!/already exists/i.test(err.message)) throw err;
  });
  const workers: string[] = [];
  return {
    boss,
    async enqueue(tx, job) {
      await boss.send(EXECUTIONS_QUEUE, job, { db: fromDrizzle(tx as never, sql as never) });
    },
    async work(concurrency, handler) {
      const id = await boss.work<ExecutionJob>(
        EXECUTIONS_QUEUE,
        // NOTIFY wakes workers for new jobs; polling still finds retries whose backoff has passed.
        { batchSize: 1, localConcurrency: concurrency, pollingIntervalSeconds: 1, notifyPollingIntervalSeconds: 1 },
        async ([job]) => handler(job!),
      );
      workers.push(id);
      return id;
    },
    wake() {
      for (const id of workers) boss.notifyWorker(id);
    },
    async stop(graceful, timeoutMs) {
      await boss.stop({ graceful, timeout: timeoutMs, close: false });
    },
  };
}

