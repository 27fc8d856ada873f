/** Conversations, newest first, and one conversation with its messages. */
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

export function conversationRoutes({ store }: Pick<ApiDeps, 'store'>) {
  const api = new Hono();

  /** Newest first by when each conversation started; `message_count` and `last_message_at` come with each. */
  api.get('/conversations', async (c) => {
    const { before, ...q } = parse(conversationQuery, c.req.query());
    const page = await store.listConversations({ ...q, after: before });
    return c.json({
      conversations: page.rows.map((r) => ({
        id: r.id,
        channel: r.channel,
        conversation_key: r.conversationKey,
        tenant_id: r.tenantId,
        created_at: r.createdAt,
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
      id: conversation.id,
      channel: conversation.channel,
      conversation_key: conversation.conversationKey,
      tenant_id: conversation.tenantId,
      created_at: conversation.createdAt,
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

  return api;
}
