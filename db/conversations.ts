import { and, desc, eq, getTableColumns, ilike, or, sql, type SQL } from 'drizzle-orm';
import type { HistoryMessage } from '../src/types.ts';
import type { Db } from './client.ts';
import { afterCursor, containsPattern, pageOf, positionOf, type Cursor } from './paging.ts';
import { rowsOf } from './rows.ts';
import { conversations, messages } from './schema.ts';

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

/** How many earlier messages an agent is given. */
const HISTORY_MESSAGES = 50;

/**
 * The conversation as an agent should see it, as one SQL expression (a JSON array, oldest first) that a statement
 * can return next to each execution it reads: the messages of `conversationId` before `beforeMessageId`. It excludes
 * the current message and anything newer (replays see the same history); a message that is not there (any more)
 * has no history before it, and a null one has the whole conversation before it.
 * Votes are not conversation: the "+1" of a 👍 click and its "Thanks — recorded" (messages of feedback
 * executions, marked `vote` when written) are left out, so ask and summarize never read them.
 *
 * Both bounds are row comparisons on the conversation's index (conversation, time, id): that is the one plan a
 * planner without statistics can pick (a young table, a backlog being drained), so a read stops after
 * HISTORY_MESSAGES messages instead of sorting the whole conversation. The vote check is a filter on the rows the
 * read fetches anyway (a partial index without votes would spare only the few votes' fetches, and cost a second
 * index on every message written).
 */
export function historyBefore(conversationId: SQL, beforeMessageId: SQL): SQL {
  return sql`(
    select coalesce(json_agg(json_build_object('role', h.role, 'text', h.text, 'userId', h.user_id,
        'at', to_char(h.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) order by h.created_at, h.id), '[]')
    from (select 1) as one
    left join ${messages} b on b.id = ${beforeMessageId}
    cross join lateral (
      select m.role, m.text, m.user_id, m.created_at, m.id from ${messages} m
      where (m.conversation_id, m.created_at, m.id) > (${conversationId}, '-infinity'::timestamptz, '00000000-0000-0000-0000-000000000000'::uuid)
        and (m.conversation_id, m.created_at, m.id) < (${conversationId}, coalesce(b.created_at, 'infinity'), coalesce(b.id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
        and not m.vote
      order by m.conversation_id desc, m.created_at desc, m.id desc
      limit ${sql.raw(String(HISTORY_MESSAGES))}
    ) h
    where ${beforeMessageId} is null or b.id is not null)`;
}

/** A history read by historyBefore, as the driver hands it over (parsed JSON, or its text). */
export function historyFrom(value: unknown): HistoryMessage[] {
  return (typeof value === 'string' ? JSON.parse(value) : (value ?? [])) as HistoryMessage[];
}

/** The history of one conversation before `beforeMessageId` (see historyBefore). */
export async function historyFor(db: Db, conversationId: string, beforeMessageId: string | null): Promise<HistoryMessage[]> {
  const [row] = rowsOf<{ history: unknown }>(
    await db.execute(sql`select ${historyBefore(sql`${conversationId}::uuid`, sql`${beforeMessageId}::uuid`)} as history`),
  );
  return historyFrom(row?.history);
}
