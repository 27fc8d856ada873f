/**
 * The job queue: pg-boss on the same database, so a job and the execution row it runs commit together.
 */
import { sql } from 'drizzle-orm';
import { PgBoss, fromDrizzle, fromPglite, type Job } from 'pg-boss';
import type { DatabaseHandle, Db } from './client.ts';
import { classifyDatabaseError, type DatabaseHealth } from './health.ts';
import { startRunner, type Runner } from './job-runner.ts';

export const EXECUTIONS_QUEUE = 'executions';
/** Where pg-boss moves an execution job whose last retry was lost (worker killed, job timeout), so it still ends `dead`. */
export const EXECUTIONS_DEAD_QUEUE = 'executions-dead';
/** Heartbeat lease of a running job; a crashed worker's job is picked up again within about this plus the supervise interval. */
export const LEASE_SECONDS = 20;
const SUPERVISE_SECONDS = 10;
/** Our own wake-up channel between processes (server mode): web processes signal, worker processes listen. */
const WAKE_CHANNEL = 'switchboard_executions';
/** The least time between two wake-up signals one process sends; signals in between are folded into the next. */
const SIGNAL_GAP_MS = 2;

/** `deferrals` counts how often a platform rate limit pushed this execution back (not counted as attempts). */
export type ExecutionJob = { executionId: string; deferrals?: number };

export type QueueOptions = {
  maxAttempts: number;
  retryDelaySeconds: number;
  jobTimeoutSeconds: number;
  /** Off for processes that only enqueue (web role, CLI): they need no maintenance loops. */
  supervise: boolean;
  /** Errors other than "the database is unreachable", which `health` takes instead (one line per outage, not one per poll). */
  onError(err: Error): void;
  health: DatabaseHealth;
  /** Server mode: pg-boss keeps its own small pool, with a dedicated LISTEN connection. */
  databaseUrl?: string;
  poolSize?: number;
  connectTimeoutSeconds?: number;
};

export type Queue = {
  boss: PgBoss;
  /** Enqueues inside the caller's transaction so the job and the execution row commit together; `startAfterSeconds` delays it. */
  enqueue(tx: Db, job: ExecutionJob, startAfterSeconds?: number): Promise<void>;
  /** Enqueues many jobs in one statement (pg-boss's batch insert), inside the caller's transaction. */
  enqueueMany(tx: Db, jobs: ExecutionJob[]): Promise<void>;
  /**
   * The statement pg-boss's batch insert runs for `jobs`, built by pg-boss itself but not run: an `INSERT` whose
   * one parameter `$1` is `value`, for the caller to run as a part of its own statement (the same rows pg-boss writes).
   */
  insertStatement(jobs: ExecutionJob[]): Promise<{ text: string; value: unknown }>;
  /** Runs `handler` for execution jobs, `concurrency` at a time, and `onLost` for jobs whose last retry never finished. */
  work(concurrency: number, handler: (job: Job<ExecutionJob>) => Promise<void>, onLost: (job: Job<ExecutionJob>) => Promise<void>): Promise<void>;
  /** Runs `handler` on a cron schedule (pg-boss keeps one schedule per name across all processes). */
  schedule(name: string, cron: string, handler: () => Promise<void>): Promise<void>;
  /**
   * Takes an execution's waiting job off the queue, so this process can run it itself (a CLI verb on a server
   * with no worker running). False when no job waits: a worker has it, or it is finished.
   */
  claim(executionId: string): Promise<boolean>;
  /** Wakes local workers now instead of at their next poll. */
  wake(): void;
  stop(graceful: boolean, timeoutMs: number): Promise<void>;
};

export async function startQueue(handle: DatabaseHandle, opts: QueueOptions): Promise<Queue> {
  const common = {
    supervise: opts.supervise,
    schedule: opts.supervise,
    migrate: true,
    // pg-boss's own NOTIFY is transactional: PostgreSQL then takes a global lock for every notifying commit,
    // held through its WAL flush, which serializes all ingest transactions (about 250 commits/s here, against
    // 2,400 without). Workers are woken by our own signal instead, sent after commit and coalesced.
    useListenNotify: false,
    warningQueueSize: 10_000,
    superviseIntervalSeconds: SUPERVISE_SECONDS,
    monitorIntervalSeconds: SUPERVISE_SECONDS,
  };
  const boss = handle.pglite
    ? new PgBoss({ ...common, db: fromPglite(handle.pglite), backend: 'pglite' })
    : new PgBoss({
        ...common,
        connectionString: opts.databaseUrl,
        max: opts.poolSize,
        application_name: 'switchboard-queue',
        connectionTimeoutMillis: (opts.connectTimeoutSeconds ?? 3) * 1000,
        // pg-boss's own writes (fetch, complete, heartbeat, retry) need not wait for a WAL flush: the executions
        // table is the durable record, and a job state lost in a server crash only makes a job run again, which
        // startAttempt turns into a no-op for a finished execution. Jobs are created durably, in the ingest
        // transaction on our own connection.
        options: '-c synchronous_commit=off',
      });
  const { health } = opts;
  // While the database is down every worker's poll fails: the outage is one warn line (health), not a stack per poll.
  const onError = (err: Error) => {
    if (health.observe(err) !== 'down') opts.onError(err);
  };
  boss.on('error', onError);
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
    notify: false,
    deadLetter: EXECUTIONS_DEAD_QUEUE,
  };
  await boss.createQueue(EXECUTIONS_DEAD_QUEUE, { retryLimit: 5, retryDelay: 5, retryBackoff: true });
  await boss.createQueue(EXECUTIONS_QUEUE, queueOptions);
  // createQueue keeps an existing queue as it was; bring its options in step with this configuration.
  await boss.updateQueue(EXECUTIONS_QUEUE, queueOptions);
  let runner: Runner | undefined;
  const wakeLocal = () => runner?.wake();
  const signal = coalescedSignal(handle, onError);
  let listening: { unlisten(): Promise<void> } | undefined;
  // pg-boss's own workers (the dead letter queue, schedules), stopped while the database is unreachable and started
  // again after. The executions runner waits for the database by itself.
  const registrations: { queue: string; start(): Promise<void> }[] = [];
  let stopped = false;
  let switching = Promise.resolve();
  health.onChange((up) => {
    switching = switching.then(async () => {
      if (stopped || up !== health.up) return;
      if (!up) {
        await Promise.all([...new Set(registrations.map((r) => r.queue))].map((q) => boss.offWork(q, { wait: false }).catch(onError)));
      } else {
        for (const r of registrations) await r.start().catch(onError);
      }
    });
  });
  const register = async (queue: string, start: () => Promise<void>) => {
    registrations.push({ queue, start });
    await start();
  };
  /**
   * A handler that failed because the database went away waits (up to half the job timeout) for it to answer
   * again before the failure is reported: pg-boss can then record it and retry the job within its attempts,
   * instead of the job waiting for its lease to run out.
   */
  const settle = async (err: unknown) => {
    if (classifyDatabaseError(err) === 'down') await health.whenUp(opts.jobTimeoutSeconds * 500);
    throw err;
  };
  return {
    boss,
    async enqueue(tx, job, startAfterSeconds) {
      await boss.send(EXECUTIONS_QUEUE, job, { db: fromDrizzle(tx as never, sql as never), ...(startAfterSeconds ? { startAfter: startAfterSeconds } : {}) });
    },
    async enqueueMany(tx, jobs) {
      await boss.insert(
        EXECUTIONS_QUEUE,
        jobs.map((data) => ({ data })),
        { db: fromDrizzle(tx as never, sql as never) },
      );
    },
    async insertStatement(jobs) {
      let built: { text: string; value: unknown } | undefined;
      const capture = {
        async executeSql(text: string, values: unknown[]) {
          built = { text, value: values[0] };
          return { rows: [] };
        },
      };
      await boss.insert(
        EXECUTIONS_QUEUE,
        jobs.map((data) => ({ data })),
        { db: capture as never },
      );
      // A queue with pg-boss's own NOTIFY wraps its insert in a WITH, which cannot be nested in another statement's.
      if (!built || !/^\s*INSERT\b/i.test(built.text) || !built.text.includes('$1') || built.text.includes('$2')) {
        throw new Error(`pg-boss's job insert for ${EXECUTIONS_QUEUE} is not a plain INSERT with one parameter; keep the queue's notify off`);
      }
      return built;
    },
    async work(concurrency, handler, onLost) {
      // Other processes' commits wake this one's workers; polling every second remains the backstop.
      listening = await handle.client?.listen(WAKE_CHANNEL, wakeLocal);
      await register(EXECUTIONS_DEAD_QUEUE, async () => {
        await boss.work<ExecutionJob>(EXECUTIONS_DEAD_QUEUE, { pollingIntervalSeconds: 5 }, async ([job]) => onLost(job!).catch(settle));
      });
      runner = startRunner<ExecutionJob>({
        boss,
        queue: EXECUTIONS_QUEUE,
        concurrency,
        handler: (job) => handler(job).catch(settle),
        onError,
        isUp: () => health.up,
        whenUp: (ms) => health.whenUp(ms),
        leaseSeconds: LEASE_SECONDS,
        pollMs: 1000,
      });
    },
    async schedule(name, cron, handler) {
      await boss.createQueue(name, { retryLimit: 0, expireInSeconds: 300 });
      await boss.schedule(name, cron);
      await register(name, async () => {
        await boss.work(name, { pollingIntervalSeconds: 30 }, async () => handler());
      });
    },
    async claim(executionId) {
      const waiting = await boss.findJobs<ExecutionJob>(EXECUTIONS_QUEUE, { data: { executionId }, queued: true });
      if (!waiting.length) return false;
      const done = (await boss.complete(
        EXECUTIONS_QUEUE,
        waiting.map((j) => j.id),
        null,
        { includeQueued: true },
      )) as { affected?: number };
      return (done.affected ?? 0) > 0;
    },
    wake() {
      wakeLocal();
      signal();
    },
    async stop(graceful, timeoutMs) {
      stopped = true;
      await switching;
      await listening?.unlisten().catch(() => {});
      const deadline = Date.now() + timeoutMs;
      await runner?.stop(graceful, timeoutMs);
      // One bound for both: pg-boss's own workers (dead letters, schedules) get what the runner left of it.
      await boss.stop({ graceful, timeout: Math.max(1000, deadline - Date.now()), close: false });
    },
  };
}

/**
 * `pg_notify` on the wake-up channel, outside any transaction and at most one at a time: a burst of commits
 * costs one signal per SIGNAL_GAP_MS, not one each. Embedded mode has one process, so nothing to signal.
 */
function coalescedSignal(handle: DatabaseHandle, onError: (err: Error) => void): () => void {
  const client = handle.client;
  if (!client) return () => {};
  let busy = false;
  let again = false;
  const send = () => {
    busy = true;
    client`select pg_notify(${WAKE_CHANNEL}, '')`
      .catch((err: Error) => onError(err))
      .finally(() =>
        setTimeout(() => {
          busy = false;
          if (again) {
            again = false;
            send();
          }
        }, SIGNAL_GAP_MS).unref(),
      );
  };
  return () => {
    if (busy) again = true;
    else send();
  };
}
