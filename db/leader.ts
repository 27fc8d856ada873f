/**
 * Leader locks: at most one process on the database holds a given name at a time, for work that must not run
 * twice at once (a long poll the platform allows only one of). On a server it is a session-level advisory lock on
 * a connection reserved for it, so a process that dies (even `kill -9`) lets go when its connection drops. PGlite
 * has a single process, so the lock is always granted there.
 */
import type { DatabaseHandle } from './client.ts';

/** A held leader lock. */
export type Leadership = {
  /** Whether the lock is still held: false once its connection is gone (the database restarted, the network broke). */
  held(): Promise<boolean>;
  release(): Promise<void>;
};

// Kept apart from other advisory locks (migrations use a small integer key) by hashing a prefixed name.
const key = (name: string) => `switchboard:leader:${name}`;

/** Takes the lock named `name` if no other process holds it; undefined when one does. Never waits. */
export async function tryLeadership(handle: DatabaseHandle, name: string): Promise<Leadership | undefined> {
  if (!handle.client) {
    let released = false;
    return { held: async () => !released, release: async () => void (released = true) };
  }
  const reserved = await handle.client.reserve();
  let acquired = false;
  let pid = 0;
  try {
    const [row] = await reserved<{ ok: boolean; pid: number }[]>`select pg_try_advisory_lock(hashtextextended(${key(name)}, 0)) as ok, pg_backend_pid() as pid`;
    acquired = row?.ok === true;
    pid = Number(row?.pid);
  } finally {
    if (!acquired) reserved.release();
  }
  if (!acquired) return undefined;
  let released = false;
  return {
    async held() {
      if (released) return false;
      try {
        // A reserved connection that broke may come back as a new session, which does not hold the lock.
        const [row] = await reserved<{ pid: number }[]>`select pg_backend_pid() as pid`;
        return Number(row?.pid) === pid;
      } catch {
        return false;
      }
    },
    async release() {
      if (released) return;
      released = true;
      try {
        await reserved`select pg_advisory_unlock(hashtextextended(${key(name)}, 0))`;
      } catch {
        // The connection is gone, and the lock with it.
      } finally {
        reserved.release();
      }
    },
  };
}
