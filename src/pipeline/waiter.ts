/** Lets a request wait for its execution to finish (`?wait=1`), in-process or across processes. */
import { EventEmitter } from 'node:events';
import type { ExecutionRow, Store } from '../../db/index.ts';

const FINAL = new Set(['succeeded', 'dead']);

export type Waiter = {
  /** Called by the local worker when an execution reaches a final state. */
  finished(executionId: string): void;
  /** Resolves with the execution once it is final, or with its current state at the deadline. */
  wait(executionId: string, timeoutMs: number): Promise<ExecutionRow | undefined>;
};

export function createWaiter(store: Store, pollMs = 250): Waiter {
  const events = new EventEmitter();
  events.setMaxListeners(0);
  return {
    finished(id) {
      events.emit(id);
    },
    async wait(id, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      // The local event makes the common case instant; polling covers a worker in another process.
      // The listener is attached before each read so a finish between the two is not missed.
      for (;;) {
        let done = () => {};
        let timer: NodeJS.Timeout | undefined;
        const signalled = new Promise<void>((resolve) => {
          done = () => {
            clearTimeout(timer);
            events.off(id, done);
            resolve();
          };
          events.on(id, done);
        });
        const row = await store.getExecution(id);
        if (!row || FINAL.has(row.status) || Date.now() >= deadline) {
          done();
          return row;
        }
        timer = setTimeout(done, Math.min(pollMs, Math.max(0, deadline - Date.now())));
        await signalled;
      }
    },
  };
}
