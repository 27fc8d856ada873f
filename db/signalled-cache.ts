/**
 * A small table read on every event (routing rules, access rules, agents' required roles) kept in memory, and
 * invalidated by a NOTIFY that whoever changes it sends after commit. The cache listens before it loads, so a
 * change committed in another process after the load always reaches it, and a LISTEN connection that
 * reconnects reads the table again, since a signal may have been missed meanwhile. Embedded mode has one
 * process: its own changes invalidate it.
 */
import type { DatabaseHandle } from './client.ts';

export type SignalledCache<T> = {
  get(): Promise<T>;
  /** The table changed: this process reads it again, and every other one is told. */
  changed(): Promise<void>;
};

export function createSignalledCache<T>(handle: DatabaseHandle, channel: string, load: () => Promise<T>): SignalledCache<T> {
  let value: Promise<T> | undefined;
  let listening: Promise<unknown> | undefined;
  const invalidate = () => {
    value = undefined;
  };
  const listenThenLoad = async () => {
    listening ??= handle.client?.listen(channel, invalidate, invalidate).catch((err: unknown) => {
      listening = undefined;
      throw err;
    });
    await listening;
    return load();
  };
  return {
    get() {
      if (!value) {
        const loading = listenThenLoad();
        value = loading;
        // A failed read is not kept: the next event reads again.
        loading.catch(() => {
          if (value === loading) invalidate();
        });
      }
      return value;
    },
    async changed() {
      invalidate();
      if (handle.client) await handle.client`select pg_notify(${channel}, '')`;
    },
  };
}
