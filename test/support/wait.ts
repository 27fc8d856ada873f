/** Waiting in tests for what happens in the background: polls until a condition holds, never asserting on time. */
import { sql } from 'drizzle-orm';
import { rowsOf } from '../../db/rows.ts';
import type { Switchboard } from '../../src/server.ts';

/** Reads until `ok` accepts the value or the deadline passes, and returns the last value read (the caller asserts on it). */
export async function waitFor<T>(read: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Waits until no execution is queued, running or waiting for a retry: every reply the pipeline was going to send for
 * the requests made so far has been sent (a reply is delivered before its execution is final). Ingest stores an
 * execution before the request is answered, so none started by an answered request can be missed. Returns how many
 * are still unfinished (0 unless the deadline passed).
 */
export async function pipelineIdle(sb: Switchboard): Promise<number> {
  const unfinished = async () =>
    Number(
      rowsOf<{ n: number }>(
        await sb.opened.handle.db.execute(sql`select count(*)::int as n from executions where status in ('queued', 'running', 'failed')`),
      )[0]!.n,
    );
  return waitFor(unfinished, (n) => n === 0);
}

/**
 * A gate a test agent waits at until the test opens it, to see what shows while an agent is still working.
 * `waiting` turns true once an agent has reached it: from then on, anything sent came from somewhere else.
 */
export function createGate() {
  let release = () => {};
  let waiting = false;
  return {
    get waiting() {
      return waiting;
    },
    pass(): Promise<void> {
      waiting = true;
      return new Promise((resolve) => {
        release = () => {
          waiting = false;
          resolve();
        };
      });
    },
    open() {
      release();
    },
  };
}
