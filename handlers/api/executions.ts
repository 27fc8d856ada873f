/** The execution log: list, one execution, its answer as it streams, and replay. */
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { presentExecution } from '../present.ts';
import { executionAnswers } from './answer.ts';
import type { ApiDeps } from './deps.ts';
import { cursor, pageLimit, parse, querySchema, search } from './input.ts';

// A time with its zone (a date alone is UTC midnight); a `+` left unencoded in a query string arrives as a space.
const isoTime = z
  .string()
  .transform((text) => text.replace(/ (\d{2}:?\d{2})$/, '+$1'))
  .pipe(
    z
      .string()
      .regex(
        /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/,
        'must be an ISO 8601 time with its zone, such as 2026-01-31T09:00:00Z',
      ),
  )
  .transform((text, ctx) => {
    const at = new Date(text);
    // Date rolls 2026-02-31 over into March; a day past the month's end is a mistake to report.
    const [year, month, day] = text.slice(0, 10).split('-').map(Number) as [number, number, number];
    const real = !Number.isNaN(at.getTime()) && new Date(Date.UTC(year, month - 1, day)).getUTCDate() === day;
    return real ? at : (ctx.addIssue({ code: 'custom', message: 'is not a real date' }), z.NEVER);
  });

const executionQuery = querySchema({
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'dead']).optional(),
  channel: z.string().max(32).optional(),
  agent: z.string().max(64).optional(),
  since: isoTime.optional(),
  until: isoTime.optional(),
  q: search.optional(),
  before: cursor.optional(),
  limit: pageLimit,
});

export function executionRoutes(deps: Pick<ApiDeps, 'store' | 'waiter' | 'live' | 'replyWaitSeconds'>) {
  const { store } = deps;
  const answers = executionAnswers(deps);
  const api = new Hono();

  api.get('/executions', async (c) => {
    const { before, ...q } = parse(executionQuery, c.req.query());
    const page = await store.listExecutions({ ...q, after: before });
    return c.json({ executions: page.rows.map(presentExecution), next_cursor: page.nextCursor });
  });
  api.get('/executions/:id', async (c) => c.json(presentExecution(await answers.find(c.req.param('id')))));
  /**
   * Server-sent events: `delta` events ({ delta, text }: `text` is the answer so far) while the answer is
   * generated in this process, then one `done` with the stored reply (or `timeout`). A worker in another
   * process streams nothing here; `done` still arrives.
   */
  api.get('/executions/:id/stream', async (c) => {
    const row = await answers.find(c.req.param('id'));
    return streamSSE(c, async (stream) => {
      let writes = Promise.resolve();
      const send = (event: string, data: unknown) => {
        writes = writes.then(() => stream.writeSSE({ event, data: JSON.stringify(data) }));
      };
      // Subscribed before waiting, so no delta between the two is missed.
      const unsubscribe = deps.live.subscribe(row.id, (e) => e.type === 'delta' && send('delta', { delta: e.delta, text: e.text }));
      stream.onAbort(unsubscribe);
      try {
        const final = await deps.waiter.wait(row.id, deps.replyWaitSeconds * 1000);
        unsubscribe();
        const done = final?.status === 'succeeded' || final?.status === 'dead';
        send(done ? 'done' : 'timeout', { execution_id: row.id, status: final?.status, reply: done ? final.result : null, error: final?.error ?? null });
        await writes;
      } finally {
        unsubscribe();
      }
    });
  });
  api.post('/executions/:id/replay', async (c) => {
    const original = await answers.find(c.req.param('id'));
    const copy = await store.replay(original.id);
    store.queue.wake();
    return answers.respond(c, copy!.id, { replay_of: original.id });
  });

  return api;
}
