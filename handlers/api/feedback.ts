/** Ratings of answers: one given through the API, and the totals by agent. */
import { Hono } from 'hono';
import { z } from 'zod';
import { NotFoundError } from '../../src/errors.ts';
import { recordVote } from '../../src/pipeline/votes.ts';
import type { ApiDeps } from './deps.ts';
import { jsonBody, parse, UUID } from './input.ts';

const feedbackBody = z.object({
  execution_id: z.string().regex(UUID, 'must be an execution id'),
  score: z.union([z.literal(1), z.literal(-1)]),
  user_id: z.string().min(1).max(256),
});

export function feedbackRoutes({ store }: Pick<ApiDeps, 'store'>) {
  const api = new Hono();

  api.post('/feedback', async (c) => {
    const body = parse(feedbackBody, await jsonBody(c.req));
    // The admin token's holder is an admin: they may rate any execution, through the same vote path as everyone.
    const voter = { userId: body.user_id, channel: 'web', tenantId: 'web', admin: true };
    const outcome = await recordVote(store, { executionId: body.execution_id, score: body.score, voter });
    if (!outcome.recorded) throw new NotFoundError(`Execution ${body.execution_id}`);
    return c.json({ id: outcome.feedbackId, execution_id: outcome.executionId, user_id: body.user_id, score: outcome.score }, 201);
  });
  api.get('/feedback/summary', async (c) => {
    const { byAgent, ...totals } = await store.feedbackSummary();
    return c.json({ ...totals, by_agent: byAgent });
  });

  return api;
}
