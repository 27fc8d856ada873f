/** Conversations, newest first, one conversation with its messages, and the votes on each of its answers. */
import { Hono } from 'hono';
import { z } from 'zod';
import { NotFoundError } from '../../src/errors.ts';
import type { ApiDeps } from './deps.ts';
import { cursor, pageLimit, parse, querySchema, search, UUID } from './input.ts';

const conversationQuery = querySchema({
  channel: z.string().max(32).optional(),
  q: search.optional(),
  before: cursor.optional(),
  limit: pageLimit,
});

/** The fields a conversation shows in the listing and on its own page. */
function presentConversation(r: { id: string; channel: string; conversationKey: string; tenantId: string; createdAt: Date }) {
  return { id: r.id, channel: r.channel, conversation_key: r.conversationKey, tenant_id: r.tenantId, created_at: r.createdAt };
}

export function conversationRoutes({ store }: Pick<ApiDeps, 'store'>) {
  const api = new Hono();

  /** Newest first by when each conversation started; `message_count` and `last_message_at` come with each. */
  api.get('/conversations', async (c) => {
    const { before, ...q } = parse(conversationQuery, c.req.query());
    const page = await store.listConversations({ ...q, after: before });
    return c.json({
      conversations: page.rows.map((r) => ({
        ...presentConversation(r),
        last_message_at: r.lastMessageAt,
        message_count: r.messageCount,
      })),
      next_cursor: page.nextCursor,
    });
  });
  api.get('/conversations/:id', async (c) => {
    const id = c.req.param('id');
    const conversation = UUID.test(id) ? await store.getConversation(id) : undefined;
    if (!conversation) throw new NotFoundError(`Conversation ${id}`);
    return c.json({
      ...presentConversation(conversation),
      messages: conversation.messages.map((m) => ({
        id: m.id,
        role: m.role,
        user_id: m.userId,
        text: m.text,
        execution_id: m.executionId,
        created_at: m.createdAt,
      })),
    });
  });
  /** 👍/👎 counts per answer of one conversation (answers nobody rated are absent). */
  api.get('/conversations/:id/feedback', async (c) => {
    const id = c.req.param('id');
    if (!UUID.test(id)) throw new NotFoundError(`Conversation ${id}`);
    const votes = await store.conversationFeedback(id);
    return c.json({ feedback: votes.map((v) => ({ execution_id: v.executionId, up: v.up, down: v.down })) });
  });

  return api;
}
