import { and, desc, eq, isNotNull, sql } from 'drizzle-orm';
import type { IntentName } from '../src/types.ts';
import type { Db } from './client.ts';
import { conversations, executions, feedback } from './schema.ts';

export type FeedbackVote = { executionId: string; userId: string; channel: string; score: 1 | -1 };

/**
 * Whether the messages of an execution of `agent` are votes (messages.vote): the feedback agent's, the "+1" or 👍
 * that started it and its acknowledgement, which are not conversation.
 */
export const isVoteAgent = (agent: string | undefined) => agent === ('feedback' satisfies IntentName);

/** One vote per user per execution; voting again changes it. */
export async function upsertFeedback(db: Db, vote: FeedbackVote) {
  const [row] = await db
    .insert(feedback)
    .values(vote)
    .onConflictDoUpdate({
      target: [feedback.executionId, feedback.userId],
      set: { score: vote.score, channel: vote.channel, updatedAt: sql`now()` },
    })
    .returning();
  return row!;
}

/** What a vote on `executionId` is checked against: where that execution was answered, or undefined when it does not exist. */
export async function voteTarget(db: Db, executionId: string) {
  const [row] = await db
    .select({
      id: executions.id,
      channel: executions.channel,
      tenantId: executions.tenantId,
      conversationId: executions.conversationId,
      conversationKey: conversations.conversationKey,
      destination: executions.destination,
    })
    .from(executions)
    .innerJoin(conversations, eq(conversations.id, executions.conversationId))
    .where(eq(executions.id, executionId))
    .limit(1);
  return row;
}

export type VoteTarget = NonNullable<Awaited<ReturnType<typeof voteTarget>>>;

/**
 * The execution a bare "+1" in a conversation rates: the latest answer that offered feedback,
 * excluding feedback acknowledgements themselves.
 */
export async function latestRateableExecution(db: Db, conversationId: string): Promise<string | undefined> {
  const [row] = await db
    .select({ id: executions.id })
    .from(executions)
    .where(
      and(
        eq(executions.conversationId, conversationId),
        eq(executions.status, 'succeeded'),
        isNotNull(executions.replyMessageId),
        sql`coalesce((${executions.result} ->> 'feedback')::boolean, false)`,
      ),
    )
    .orderBy(desc(executions.finishedAt))
    .limit(1);
  return row?.id;
}

export async function feedbackSummary(db: Db) {
  const rows = await db
    .select({
      agent: executions.agent,
      up: sql<number>`count(*) filter (where ${feedback.score} = 1)::int`,
      down: sql<number>`count(*) filter (where ${feedback.score} = -1)::int`,
    })
    .from(feedback)
    .innerJoin(executions, eq(feedback.executionId, executions.id))
    .groupBy(executions.agent)
    .orderBy(executions.agent);
  const byAgent = rows.map((r) => ({ agent: r.agent, up: Number(r.up), down: Number(r.down), total: Number(r.up) + Number(r.down) }));
  const up = byAgent.reduce((n, r) => n + r.up, 0);
  const down = byAgent.reduce((n, r) => n + r.down, 0);
  return { up, down, total: up + down, score: up + down ? (up - down) / (up + down) : 0, byAgent };
}

/** 👍/👎 counts per execution of one conversation (executions nobody rated are absent). */
export async function conversationFeedback(db: Db, conversationId: string) {
  const rows = await db
    .select({
      executionId: feedback.executionId,
      up: sql<number>`count(*) filter (where ${feedback.score} = 1)::int`,
      down: sql<number>`count(*) filter (where ${feedback.score} = -1)::int`,
    })
    .from(feedback)
    .innerJoin(executions, eq(feedback.executionId, executions.id))
    .where(eq(executions.conversationId, conversationId))
    .groupBy(feedback.executionId);
  return rows.map((r) => ({ executionId: r.executionId, up: Number(r.up), down: Number(r.down) }));
}
