import { and, desc, eq, getTableColumns, ilike, or, sql } from 'drizzle-orm';
import type { HistoryMessage } from '../src/types.ts';
import type { Db } from './client.ts';
import { afterCursor, containsPattern, pageOf, positionOf, type Cursor } from './paging.ts';
import { rowsOf } from './rows.ts';
import { conversations, executions, messages } from './schema.ts';

export type ConversationRow = typeof conversations.$inferSelect;

/** `q` matches the conversation key or any message's text, case-insensitively. */
export type ConversationFilter = { channel?: string; q?: string; after?: Cursor; limit?: number };

/**
 * Conversations newest first by when they started (a stable order, so a cursor never skips or repeats one as
 * messages arrive), each with its message count and last activity, read for the page's rows only.
 */
export async function listConversations(db: Db, f: ConversationFilter) {
  const limit = Math.min(f.limit ?? 50, 500);
  const pattern = f.q ? containsPattern(f.q) : undefined;
  const rows = await db
    .select({
      ...getTableColumns(conversations),
      position: positionOf(conversations.createdAt),
      // Written out: inside a selected field, drizzle would leave the correlated columns unqualified.
      messageCount: sql<number>`(select count(*)::int from ${messages} m where m.conversation_id = ${conversations}.id)`,
      lastMessageAt: sql<string | null>`(select max(m.created_at) from ${messages} m where m.conversation_id = ${conversations}.id)`,
    })
    .from(conversations)
    .where(
      and(
        f.channel ? eq(conversations.channel, f.channel) : undefined,
        pattern
          ? or(
              ilike(conversations.conversationKey, pattern),
              sql`exists (select 1 from ${messages} where ${messages.conversationId} = ${conversations.id} and ${messages.text} ilike ${pattern})`,
            )
          : undefined,
        f.after ? afterCursor(conversations.createdAt, conversations.id, f.after) : undefined,
      ),
    )
    .orderBy(desc(conversations.createdAt), desc(conversations.id))
    .limit(limit + 1);
  const page = pageOf(rows, limit);
  return {
    nextCursor: page.nextCursor,
    rows: page.rows.map((r) => ({ ...r, messageCount: Number(r.messageCount), lastMessageAt: r.lastMessageAt ? new Date(r.lastMessageAt) : null })),
  };
}

/**
 * The key of conversation `id` when it belongs to `channel` and `tenantId`, so a client may continue a
 * conversation by the id a response gave it; undefined for anything else.
 */
export async function conversationKeyOf(db: Db, channel: string, tenantId: string, id: string): Promise<string | undefined> {
  const [row] = await db
    .select({ key: conversations.conversationKey })
    .from(conversations)
    .where(and(eq(conversations.id, id), eq(conversations.channel, channel), eq(conversations.tenantId, tenantId)))
    .limit(1);
  return row?.key;
}

export async function getConversation(db: Db, id: string, limit = 200) {
  const [conversation] = await db.select().from(conversations).where(eq(conversations.id, id)).limit(1);
  if (!conversation) return undefined;
  const rows = await db.select().from(messages).where(eq(messages.conversationId, id)).orderBy(desc(messages.createdAt), desc(messages.id)).limit(limit);
  return { ...conversation, messages: rows.reverse() };
}

/**
 * The conversation as each agent should see it, for many executions in one statement (concurrent executions of a
 * worker share the read): messages before the one being answered, oldest first.
 * `beforeMessageId` excludes the current message and anything newer (replays see the same history).
 * Votes are not conversation: the "+1" of a 👍 click and its "Thanks — recorded" (messages of feedback
 * executions) are left out, so ask and summarize never read them.
 */
export async function historiesFor(db: Db, wanted: { conversationId: string; beforeMessageId: string | null }[], limit = 50): Promise<HistoryMessage[][]> {
  const values = sql.join(
    wanted.map((w, i) => sql`(${i}::int, ${w.conversationId}::uuid, ${w.beforeMessageId}::uuid)`),
    sql`, `,
  );
  const rows = await db.transaction(async (tx) => {
    // The conversation's index holds the history in order, so a read stops after `limit` messages. On a young
    // table the planner has no statistics yet and picks a bitmap scan of every earlier message of the conversation
    // instead, sorted and checked for votes one by one: about ten times the work on a backlog being drained.
    await tx.execute(sql`set local enable_bitmapscan = off`);
    return rowsOf<{ i: number; role: HistoryMessage['role']; text: string; user_id: string | null; at: string }>(
      await tx.execute(sql`
        select w.i, h.role, h.text, h.user_id,
          to_char(h.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as at
        from (values ${values}) as w(i, conversation_id, before_id)
        left join ${messages} b on b.id = w.before_id
        cross join lateral (
          select m.role, m.text, m.user_id, m.created_at, m.id from ${messages} m
          where m.conversation_id = w.conversation_id
            and m.created_at <= coalesce(b.created_at, 'infinity')
            and (b.id is null or (m.created_at, m.id) < (b.created_at, b.id))
            and not exists (select 1 from ${executions} e where e.id = m.execution_id and e.agent = 'feedback')
          order by m.created_at desc, m.id desc
          limit ${limit}
        ) h
        -- A message that is not there (any more) has no history before it.
        where w.before_id is null or b.id is not null
        order by w.i, h.created_at, h.id`),
    );
  });
  const histories = wanted.map((): HistoryMessage[] => []);
  for (const r of rows) histories[Number(r.i)]!.push({ role: r.role, text: r.text, userId: r.user_id, at: r.at });
  return histories;
}
