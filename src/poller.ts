/**
 * Channels that fetch their events (`ChannelReceiver.poll`: Telegram getUpdates, a Slack Socket Mode connection)
 * instead of being posted to. One consumer per bot or app, so each poller runs in one process at a time: the one
 * holding the leader lock `poll:<channel>`; the others stand by and try again every few seconds, so one takes over
 * when the holder stops or dies. What a poller fetches takes the webhook route's path: normalize, then ingest.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from './errors.ts';
import type { Ingest } from './pipeline/ingest.ts';
import { createReceive, type AnswerHow } from './pipeline/receive.ts';
import { NormalizeError, type ChannelReceiver, type Logger, type RawRequest } from './ports.ts';

/** A held leader lock (db/leader.ts). */
export type Lease = { held(): Promise<boolean>; release(): Promise<void> };

export type PollerOptions = {
  adapter: ChannelReceiver & Required<Pick<ChannelReceiver, 'poll'>>;
  ingest: Ingest;
  /** Takes the named leader lock, or undefined when another process holds it. */
  lead(name: string): Promise<Lease | undefined>;
  logger: Logger;
  /** How often a standby asks for the lock, and the holder checks it still has it (default 5 s). */
  retrySeconds?: number;
};

/** Waits `ms`, or less when `signal` aborts. */
const pause = (ms: number, signal: AbortSignal): Promise<void> => sleep(ms, undefined, { signal }).catch(() => {});

/**
 * What a fetched event goes through: the receive step every transport shares (normalize → access → ingest → ack).
 * Resolves with the platform's answer once it is stored, was a duplicate, or was refused by the access policy;
 * resolves undefined when it can never be stored (it does not parse, it names no known agent: skipped with a
 * warning, as the route would answer it 400). Throws when it may be stored later (rate limit, overload, database
 * down), with `retryAfterSeconds` when that is known.
 */
export function pollReceiver(adapter: ChannelReceiver, ingest: Ingest, logger: Logger) {
  const receiveEvent = createReceive(adapter, ingest, logger);
  return async function receive(req: RawRequest, how: AnswerHow = 'send'): Promise<Response | undefined> {
    try {
      return await receiveEvent(req, how);
    } catch (err) {
      const status = err instanceof NormalizeError || err instanceof AppError ? err.status : undefined;
      if (status !== undefined && status >= 400 && status < 500 && status !== 429) {
        logger.warn({ channel: adapter.channel, err: (err as Error).message }, `a fetched ${adapter.channel} event was refused and is skipped`);
        return undefined;
      }
      if (err instanceof AppError && err.headers['Retry-After']) {
        throw Object.assign(new Error(err.message, { cause: err }), { retryAfterSeconds: Number(err.headers['Retry-After']) || 1 });
      }
      throw err;
    }
  };
}

/** Starts `adapter.poll` under its leader lock; `stop` ends polling and releases the lock. */
export function startPoller(opts: PollerOptions): { stop(): Promise<void> } {
  const { adapter, logger } = opts;
  const retryMs = (opts.retrySeconds ?? 5) * 1000;
  const name = `poll:${adapter.channel}`;
  const stopping = new AbortController();
  const receive = pollReceiver(adapter, opts.ingest, logger);

  async function lead(): Promise<void> {
    let standingBy = false;
    while (!stopping.signal.aborted) {
      let lease: Lease | undefined;
      try {
        lease = await opts.lead(name);
      } catch (err) {
        logger.warn({ err: (err as Error).message, lock: name }, `cannot take the ${name} lock; retrying in ${retryMs / 1000} s`);
      }
      if (!lease) {
        if (!standingBy) logger.info({ lock: name }, `another process polls ${adapter.channel}; this one stands by and takes over if it stops`);
        standingBy = true;
        await pause(retryMs, stopping.signal);
        continue;
      }
      standingBy = false;
      logger.info({ lock: name }, `this process polls ${adapter.channel}`);
      const running = new AbortController();
      const stop = () => running.abort();
      stopping.signal.addEventListener('abort', stop, { once: true });
      const watch = setInterval(() => {
        void lease.held().then((held) => {
          if (held || running.signal.aborted) return;
          logger.warn({ lock: name }, `lost the ${name} lock (database connection dropped); stopping this poller until it is taken again`);
          running.abort();
        });
      }, retryMs);
      try {
        await adapter.poll(receive, { signal: running.signal, logger });
      } catch (err) {
        logger.error({ err, lock: name }, `the ${adapter.channel} poller failed; restarting it in ${retryMs / 1000} s`);
        await pause(retryMs, stopping.signal);
      } finally {
        clearInterval(watch);
        stopping.signal.removeEventListener('abort', stop);
        await lease.release();
      }
    }
  }

  const done = lead();
  return {
    async stop() {
      stopping.abort();
      await done;
    },
  };
}
