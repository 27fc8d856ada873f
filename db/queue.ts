/**
 * The job queue: pg-boss on the same database, so a job and the execution row it runs commit together.
 */
import { sql } from 'drizzle-orm';
import { PgBoss, fromDrizzle, fromPglite, type Job } from 'pg-boss';
import type { DatabaseHandle, Db } from './client.ts';

export const EXECUTIONS_QUEUE = 'executions';
/** Where pg-boss moves an execution job whose last retry was lost (worker killed, job timeout), so it still ends `dead`. */
export const EXECUTIONS_DEAD_QUEUE = 'executions-dead';
/** Heartbeat lease of a running job; a crashed worker's job is picked up again within about this plus the supervise interval. */
export const LEASE_SECONDS = 20;
const SUPERVISE_SECONDS = 10;

/** `deferrals` counts how often a platform rate limit pushed this execution back (not counted as attempts). */
export type ExecutionJob = { executionId: string; deferrals?: number };

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
  /** Enqueues inside the caller's transaction so the job and the execution row commit together; `startAfterSeconds` delays it. */
  enqueue(tx: Db, job: ExecutionJob, startAfterSeconds?: number): Promise<void>;
  /** Runs `handler` for execution jobs, `concurrency` at a time, and `onLost` for jobs whose last retry never finished. */
  work(concurrency: number, handler: (job: Job<ExecutionJob>) => Promise<void>, onLost: (job: Job<ExecutionJob>) => Promise<void>): Promise<void>;
  /** Runs `handler` on a cron schedule (pg-boss keeps one schedule per name across all processes). */
  schedule(name: string, cron: string, handler: () => Promise<void>): Promise<void>;
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
    superviseIntervalSeconds: SUPERVISE_SECONDS,
    monitorIntervalSeconds: SUPERVISE_SECONDS,
  };
  const boss = handle.pglite
    ? new PgBoss({ ...common, db: fromPglite(handle.pglite), backend: 'pglite' })
    : new PgBoss({ ...common, connectionString: opts.databaseUrl, max: opts.poolSize, application_name: 'switchboard-queue' });
  boss.on('error', opts.onError);
  await boss.start();
  const queueOptions = {
    retryLimit: opts.maxAttempts - 1,
    retryDelay: opts.retryDelaySeconds,
    retryBackoff: true,
    retryDelayMax: 300,
    expireInSeconds: opts.jobTimeoutSeconds,
    // The lease: a worker that dies (kill -9) stops heartbeating, and its job is retried once the
    // heartbeat is this many seconds late, instead of after the whole job timeout.
    heartbeatSeconds: LEASE_SECONDS,
    notify: true,
    deadLetter: EXECUTIONS_DEAD_QUEUE,
  };
  await boss.createQueue(EXECUTIONS_DEAD_QUEUE, { retryLimit: 5, retryDelay: 5, retryBackoff: true });
  await boss.createQueue(EXECUTIONS_QUEUE, queueOptions);
  // createQueue keeps an existing queue as it was; bring its options in step with this configuration.
  await boss.updateQueue(EXECUTIONS_QUEUE, queueOptions);
  const workers: string[] = [];
  return {
    boss,
    async enqueue(tx, job, startAfterSeconds) {
      await boss.send(EXECUTIONS_QUEUE, job, { db: fromDrizzle(tx as never, sql as never), ...(startAfterSeconds ? { startAfter: startAfterSeconds } : {}) });
    },
    async work(concurrency, handler, onLost) {
      await boss.work<ExecutionJob>(EXECUTIONS_DEAD_QUEUE, { pollingIntervalSeconds: 5 }, async ([job]) => onLost(job!));
      // One pg-boss worker per slot, each knowing its own id: a slot that finishes fetches again at
      // once, so a backlog drains back to back instead of one job per slot per polling interval.
      // (With localConcurrency the extra slots get ids we never see and can only poll.)
      for (let slot = 0; slot < concurrency; slot++) {
        let id = '';
        id = await boss.work<ExecutionJob>(
          EXECUTIONS_QUEUE,
          // NOTIFY wakes workers for new jobs; polling still finds retries whose backoff has passed.
          { batchSize: 1, pollingIntervalSeconds: 1, notifyPollingIntervalSeconds: 1 },
          async ([job]) => {
            try {
              await handler(job!);
            } finally {
              if (id) boss.notifyWorker(id);
            }
          },
        );
        workers.push(id);
      }
    },
    async schedule(name, cron, handler) {
      await boss.createQueue(name, { retryLimit: 0, expireInSeconds: 300 });
      await boss.schedule(name, cron);
      await boss.work(name, { pollingIntervalSeconds: 30 }, async () => handler());
    },
    wake() {
      for (const id of workers) boss.notifyWorker(id);
    },
    async stop(graceful, timeoutMs) {
      await boss.stop({ graceful, timeout: timeoutMs, close: false });
    },
  };
}

