/** An execution as the admin API finds and answers it: by id (404 otherwise), and with its reply once it is final. */
import type { Context } from 'hono';
import { NotFoundError } from '../../src/errors.ts';
import type { ApiDeps } from './deps.ts';
import { UUID } from './input.ts';

export function executionAnswers({ store, waiter, replyWaitSeconds }: Pick<ApiDeps, 'store' | 'waiter' | 'replyWaitSeconds'>) {
  return {
    async find(id: string) {
      const row = UUID.test(id) ? await store.getExecution(id) : undefined;
      if (!row) throw new NotFoundError(`Execution ${id}`);
      return row;
    },

    /** `?wait=1`: hold the response until the execution is final (or the wait times out: 202). */
    async respond(c: Context, id: string, extra: Record<string, unknown>) {
      const wait = ['1', 'true'].includes(c.req.query('wait') ?? '');
      const row = wait ? await waiter.wait(id, replyWaitSeconds * 1000) : await store.getExecution(id);
      const final = row && (row.status === 'succeeded' || row.status === 'dead');
      const body = {
        ...extra,
        execution_id: id,
        conversation_id: row?.conversationId,
        status: row?.status,
        reply: final ? row.result : null,
        error: row?.error ?? null,
      };
      return c.json(body, wait && final ? 200 : 202);
    },
  };
}
