/** Waiting in tests for what happens in the background: polls until a condition holds, never asserting on time. */

/** Reads until `ok` accepts the value or the deadline passes, and returns the last value read (the caller asserts on it). */
export async function waitFor<T>(read: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A short pause in which a second reply or a stray post, if there were one, would arrive. */
export const settle = () => new Promise((r) => setTimeout(r, 300));
