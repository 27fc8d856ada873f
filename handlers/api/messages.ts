/** POST /api/messages: the web channel, answered in place (`?wait=1`) or queued. */
import { Hono } from 'hono';
import { isRefusal } from '../../src/access/index.ts';
import { AppError, BadRequestError } from '../../src/errors.ts';
import { rawRequest } from '../channel.ts';
import { executionAnswers } from './answer.ts';
import type { ApiDeps } from './deps.ts';
import { UUID } from './input.ts';

export function messageRoutes(deps: Pick<ApiDeps, 'store' | 'ingest' | 'waiter' | 'web' | 'replyWaitSeconds'>) {
  const { store } = deps;
  const answers = executionAnswers(deps);
  const api = new Hono();

  api.post('/messages', async (c) => {
    const req = await rawRequest(c);
    deps.web.verify(req);
    const envelopes = await deps.web.normalize(req);
    if (!Array.isArray(envelopes)) throw new BadRequestError('ignored', envelopes.ignore);
    // A response names its conversation by id; sent back as `conversation_id`, that id continues the same
    // conversation (only one of the web channel's own), while any other value stays the client's own key.
    for (const envelope of envelopes) {
      if (!UUID.test(envelope.conversationKey)) continue;
      envelope.conversationKey =
        (await store.conversationKeyOf(envelope.channel, envelope.tenantId, envelope.conversationKey.toLowerCase())) ?? envelope.conversationKey;
    }
    const [result] = await deps.ingest(envelopes);
    // The web channel is a trusted system (admin-token holders); a refusal here is a quota or a policy the operator set.
    if (!result || isRefusal(result))
      throw new AppError(403, `access_${result?.refused ?? 'refused'}`, result?.answer ?? 'The access policy refused this message');
    return answers.respond(c, result.executionId, { duplicate: result.duplicate });
  });

  return api;
}
