import { and, desc, eq, sql } from 'drizzle-orm';
import type { HistoryMessage } from '../src/types.ts';
import type { Db } from './client.ts';
import { conversations, executions, messages } from './schema.ts';

export async function getConversation(db: Db, id: string, limit = 200) {
  const [conversation] = await db.select().from(conversations).where(eq(conversations.id, id)).limit(1);
  if (!conversation) return undefined;
  const rows = await db
    .select()
    .from(messages)
    .where(eq(messages.conversationId, id))
    .orderBy(desc(messages.createdAt), desc(messages.id))
    .limit(limit);
  return { ...conversation, messages: rows.reverse() };
}

/**
 * The conversation as the agent should see it: messages before the one being answered, oldest first.
 * `beforeMessageId` excludes the current message and anything newer (replays see the same history).
 * Votes are not conversation: the "+1" of a 👍 click and its "Thanks — recorded" (messages of feedback
 * executions) are left out, so ask and summarize never read them.
 */
export async function historyFor(db: Db, conversationId: string, beforeMessageId: string | null, limit = 50): Promise<HistoryMessage[]> {
  const rows = await db
    .select({ role: messages.role, text: messages.text, userId: messages.userId, at: messages.createdAt })
    .from(messages)
    .where(
      and(
        eq(messages.conversationId, conversationId),
        sql`not exists (select 1 from ${executions} where ${executions.id} = ${messages.executionId} and ${executions.agent} = 'feedback')`,
        beforeMessageId
          ? sql`(${messages.createdAt}, ${messages.id}) < (select created_at, id from ${messages} where id = ${beforeMessageId})`
          : undefined,
      ),
    )
    .orderBy(desc(messages.createdAt), desc(messages.id))
    .limit(limit);
  return rows.reverse().map((r) => ({ role: r.role, text: r.text, userId: r.userId, at: r.at.toISOString() }));
}
