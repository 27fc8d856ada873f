/**
 * Whether the database answers, as this process sees it. Every Store call passes through `guard`:
 * it refuses at once while the database is known to be down, waits a bounded time for one of the pool's
 * connections, and turns a lost connection into a `DatabaseUnavailableError` (503 with Retry-After).
 * The first such failure starts an outage: one warn line, then a probe every second until the database
 * answers again, then one info line. Nothing here knows a channel or a driver's classes, only error codes.
 */
import { DatabaseUnavailableError } from '../src/errors.ts';
import type { Logger } from '../src/ports.ts';

export type DatabaseFault = 'down' | 'busy';

/** SQLSTATE classes and driver codes that mean "cannot reach the database", not "this query is wrong". */
const DOWN_CODES = new Set([
  // node:net
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  // postgres.js
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  // PostgreSQL: admin_shutdown, crash_shutdown, cannot_connect_now
  '57P01',
  '57P02',
  '57P03',
]);
/** The database answers but cannot take this now: statement timeout (57014) and too_many_connections (53300). */
const BUSY_CODES = new Set(['57014', '53300', '53400']);
const DOWN_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /connection (?:is )?(?:closed|ended)/i,
  /Client has encountered a connection error/i,
];

/** What kind of database fault `err` (or anything in its `cause` chain) is, if any. */
export function classifyDatabaseError(err: unknown): DatabaseFault | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof DatabaseUnavailableError) return e.fault;
    const code = String((e as { code?: unknown }).code ?? '');
    if (DOWN_CODES.has(code) || code.startsWith('08')) return 'down';
    if (BUSY_CODES.has(code)) return 'busy';
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && DOWN_MESSAGES.some((re) => re.test(message))) return 'down';
  }
  return undefined;
}

export type HealthOptions = {
  logger?: Logger;
  /** `select 1` on the database, bypassing the guard; bounded by the connect timeout. */
  probe(): Promise<void>;
  /** How long a call may wait for one of `permits` connections before it is refused (busy). */
  acquireTimeoutMs: number;
  permits: number;
  /** Seconds a refused sender is told to wait (Retry-After). */
  retryAfterSeconds?: number;
  probeIntervalMs?: number;
};

export type Outage = { start: Date; end?: Date };
export type Refusals = { count: number; byChannel: Record<string, number>; first: Date; last: Date };
export type HealthSnapshot = {
  up: boolean;
  error?: string;
  /** The current outage (no end) or the last one. */
  outage?: Outage;
  /** Deliveries refused since this process started (count, per channel, first and last), or undefined if none. */
  refused?: Refusals;
  errors: Record<DatabaseFault, number>;
};

export type DatabaseHealth = ReturnType<typeof createDatabaseHealth>;

export function createDatabaseHealth(opts: HealthOptions) {
  const retryAfter = opts.retryAfterSeconds ?? 5;
  const probeMs = opts.probeIntervalMs ?? 1000;
  let up = true;
  let lastError: string | undefined;
  let outage: Outage | undefined;
  let refused: Refusals | undefined;
  const errors: Record<DatabaseFault, number> = { down: 0, busy: 0 };
  const listeners = new Set<(up: boolean) => void>();
  let upWaiters: (() => void)[] = [];
  let probing: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  // A counting semaphore in front of the pool: waiting for a connection is bounded, never an unbounded queue.
  let free = opts.permits;
  const waiting: { grant(): void }[] = [];
  function acquire(): Promise<void> {
    if (free > 0) {
      free--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const entry = {
        grant() {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(entry), 1);
        errors.busy++;
        reject(busyError());
      }, opts.acquireTimeoutMs);
      waiting.push(entry);
    });
  }
  function release() {
    const next = waiting.shift();
    if (next) next.grant();
    else free++;
  }

  const busyError = () =>
    new DatabaseUnavailableError(
      'busy',
      `The database is busy: no connection came free within ${opts.acquireTimeoutMs} ms; retry in ${retryAfter} s (raise DB_POOL_SIZE or add web processes if this lasts)`,
      retryAfter,
    );
  const downError = (cause?: unknown) =>
    new DatabaseUnavailableError('down', `The database is unreachable; nothing was stored. Retry in ${retryAfter} s`, retryAfter, cause);

  function wentDown(err: unknown) {
    lastError = err instanceof Error ? err.message : String(err);
    if (!up || closed) return;
    up = false;
    outage = { start: new Date() };
    opts.logger?.warn(
      { err: lastError },
      'the database is unreachable: refusing requests that need it with 503, workers paused; probing every second until it answers (check DATABASE_URL, the server and the network)',
    );
    for (const l of listeners) l(false);
    scheduleProbe();
  }

  function scheduleProbe() {
    if (closed) return;
    probing = setTimeout(async () => {
      probing = undefined;
      try {
        await opts.probe();
      } catch (err) {
        errors.down++;
        lastError = err instanceof Error ? err.message : String(err);
        return scheduleProbe();
      }
      cameBack();
    }, probeMs);
    probing.unref?.();
  }

  function cameBack() {
    if (up) return;
    up = true;
    lastError = undefined;
    outage = { ...outage!, end: new Date() };
    const seconds = Math.round((outage.end!.getTime() - outage.start.getTime()) / 100) / 10;
    const during = refused && refused.last >= outage.start ? refused : undefined;
    opts.logger?.info(
      { downSeconds: seconds, ...(during ? { refusedDeliveries: during.count, refusedByChannel: during.byChannel } : {}) },
      `the database answers again after ${seconds} s; workers resumed`,
    );
    for (const l of listeners) l(true);
    const waiters = upWaiters;
    upWaiters = [];
    for (const w of waiters) w();
  }

  /** Records a database error seen anywhere (a Store call, a queue worker, a signal); returns its kind. */
  function observe(err: unknown): DatabaseFault | undefined {
    const fault = classifyDatabaseError(err);
    if (fault === undefined || err instanceof DatabaseUnavailableError) return fault;
    errors[fault]++;
    if (fault === 'down') wentDown(err);
    return fault;
  }

  return {
    get up() {
      return up;
    },
    observe,
    /** Runs one unit of database work (a query or a transaction) under the rules above. */
    async guard<T>(fn: () => Promise<T>): Promise<T> {
      if (!up) throw downError();
      await acquire();
      try {
        return await fn();
      } catch (err) {
        const fault = observe(err);
        if (fault === 'down') throw downError(err);
        if (fault === 'busy' && !(err instanceof DatabaseUnavailableError)) {
          throw new DatabaseUnavailableError('busy', `The database did not answer in time; retry in ${retryAfter} s`, retryAfter, err);
        }
        throw err;
      } finally {
        release();
      }
    },
    /** Called with `false` when an outage starts and `true` when it ends. */
    onChange(listener: (up: boolean) => void) {
      listeners.add(listener);
    },
    /** Resolves when the database answers again (at once if it does), or after `timeoutMs`; true if it is up. */
    whenUp(timeoutMs: number): Promise<boolean> {
      if (up) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          upWaiters = upWaiters.filter((w) => w !== done);
          resolve(up);
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          resolve(true);
        };
        upWaiters.push(done);
      });
    },
    /** A delivery from `channel` was refused because the database was unavailable. */
    refused(channel: string) {
      const now = new Date();
      refused ??= { count: 0, byChannel: {}, first: now, last: now };
      refused.count++;
      refused.byChannel[channel] = (refused.byChannel[channel] ?? 0) + 1;
      refused.last = now;
    },
    snapshot(): HealthSnapshot {
      return {
        up,
        ...(lastError ? { error: lastError } : {}),
        ...(outage ? { outage: { ...outage } } : {}),
        ...(refused ? { refused: { ...refused, byChannel: { ...refused.byChannel } } } : {}),
        errors: { ...errors },
      };
    },
    close() {
      closed = true;
      if (probing) clearTimeout(probing);
    },
  };
}
