/** The execution log: the state machine queued → running → succeeded | failed → dead, and its queries. */
import { and, desc, eq, getTableColumns, gte, ilike, inArray, lt, notInArray, or, sql, type SQL } from 'drizzle-orm';
import type { Delivered, ExecutionStatus, HistoryMessage, Reply, Usage } from '../src/types.ts';
import { historyBefore, historyFrom } from './conversations.ts';
import type { Db } from './client.ts';
import { isVoteAgent } from './feedback.ts';
import { newMessageId } from './message-id.ts';
import type { Queue } from './queue.ts';
import { executions, messages } from './schema.ts';
import { rowsOf } from './rows.ts';
import { afterCursor, containsPattern, pageOf, positionOf, type Cursor } from './paging.ts';

export type ExecutionRow = typeof executions.$inferSelect;

/**
 * Which executions a list shows: `since` is inclusive, `until` exclusive; `q` matches the input text, the reply
 * text or the error, case-insensitively; `after` continues from a page's cursor.
 */
export type ExecutionFilter = {
  status?: ExecutionStatus;
  channel?: string;
  agent?: string;
  since?: Date;
  until?: Date;
  q?: string;
  after?: Cursor;
  limit?: number;
};

export async function getExecution(db: Db, id: string): Promise<ExecutionRow | undefined> {
  const [row] = await db.select().from(executions).where(eq(executions.id, id)).limit(1);
  return row;
}

/** Newest first, one page at a time; `nextCursor` is null on the last page. */
export async function listExecutions(db: Db, f: ExecutionFilter): Promise<{ rows: ExecutionRow[]; nextCursor: string | null }> {
  const limit = Math.min(f.limit ?? 50, 500);
  const pattern = f.q ? containsPattern(f.q) : undefined;
  const where = and(
    f.status ? eq(executions.status, f.status) : undefined,
    f.channel ? eq(executions.channel, f.channel) : undefined,
    f.agent ? eq(executions.agent, f.agent) : undefined,
    f.since ? gte(executions.createdAt, f.since) : undefined,
    f.until ? lt(executions.createdAt, f.until) : undefined,
    pattern
      ? or(ilike(sql`${executions.envelope}->>'text'`, pattern), ilike(sql`${executions.result}->>'text'`, pattern), ilike(executions.error, pattern))
      : undefined,
    f.after ? afterCursor(executions.createdAt, executions.id, f.after) : undefined,
  );
  const rows = await db
    .select({ ...getTableColumns(executions), position: positionOf(executions.createdAt) })
    .from(executions)
    .where(where)
    .orderBy(desc(executions.createdAt), desc(executions.id))
    .limit(limit + 1);
  return pageOf<ExecutionRow>(rows, limit);
}

/** A claimed attempt: the execution, with the conversation before its message as its agent will see it. */
export type StartedExecution = ExecutionRow & { history: HistoryMessage[] };

/**
 * Claims an attempt of each execution: counts it and marks the row running, and reads the conversation's history
 * (see historyBefore), one statement for all. Undefined for an execution that has already finished (a job
 * redelivered after its work committed), so the worker does nothing twice.
 *
 * Its commit does not wait for the WAL flush (`synchronous_commit` off for this statement's transaction only).
 * Nothing depends on it being durable on its own: the answer's write flushes the WAL before anything is
 * delivered, and every later write of the execution with it; a database crash that loses the claim alone leaves
 * the execution as it was before, with its job still to run, as pg-boss keeps its own job states the same way.
 */
export async function startAttempts(db: Db, ids: string[]): Promise<(StartedExecution | undefined)[]> {
  const rows = await db
    .update(executions)
    .set({ status: 'running', attempts: sql`${executions.attempts} + 1`, startedAt: sql`now()`, error: null })
    // One array parameter: the same statement text (prepared once) for any number of ids. "Not finished" is a
    // filter, not an index condition: the rows are found by id (a status index scan would read the whole backlog).
    .where(
      and(
        sql`${executions.id} = any(${`{${ids.join(',')}}`}::uuid[])`,
        notInArray(executions.status, ['succeeded', 'dead']),
        sql`(select set_config('synchronous_commit', 'off', true)) = 'off'`,
      ),
    )
    // Written out: inside a returned field drizzle would leave the columns unqualified, and `m` has them too.
    .returning({ ...getTableColumns(executions), history: historyBefore(sql`${executions}.conversation_id`, sql`${executions}.message_id`) });
  const byId = new Map(rows.map((r) => [r.id, { ...r, history: historyFrom(r.history) }]));
  return ids.map((id) => byId.get(id));
}

/** An agent's answer to store: the reply, what producing it cost, and the execution it answers. */
export type Answer = { execution: Pick<ExecutionRow, 'id' | 'conversationId' | 'agent'>; reply: Reply; usage: Usage | undefined };

/** The columns an answer writes, after the execution's id: named once for both statements that store answers. */
const ANSWER_COLUMNS = sql.raw('conversation_id, message_id, vote, text, result, provider, model, input_tokens, output_tokens, cost_usd, prompt_hash');

/** An answer as the values of ANSWER_COLUMNS (typed, so a list of them needs no other hint); all null for none. */
function answerValues(answer: Answer | undefined) {
  const { reply, usage } = answer ?? {};
  return sql`${answer?.execution.conversationId ?? null}::uuid, ${answer ? newMessageId() : null}::uuid, ${answer ? isVoteAgent(answer.execution.agent) : null}::boolean, ${reply?.text ?? null}::text,
    ${reply ? JSON.stringify(reply) : null}::jsonb, ${usage?.provider ?? null}::text, ${usage?.model ?? null}::text,
    ${usage?.inputTokens ?? null}::int, ${usage?.outputTokens ?? null}::int, ${usage?.costUsd ?? null}::numeric, ${usage?.promptHash ?? null}::text`;
}

/** The CTE that writes each answer's assistant message, from rows with ANSWER_COLUMNS and the execution's `id`. */
const answerMessages = (rows: SQL) => sql`message as (
      insert into ${messages} (id, conversation_id, role, text, execution_id, vote)
      select message_id, conversation_id, 'assistant', text, id, vote from ${rows}
    )`;

/**
 * Stores agents' answers, each with its assistant message, in one statement (atomic, one round trip); delivery to
 * the platform comes after.
 */
export async function recordResults(db: Db, answers: Answer[]): Promise<void> {
  const values = sql.join(
    answers.map((a) => sql`(${a.execution.id}::uuid, ${answerValues(a)})`),
    sql`, `,
  );
  await db.execute(sql`
    with answer(id, ${ANSWER_COLUMNS}) as (values ${values}),
    ${answerMessages(sql`answer`)}
    update ${executions} set result = answer.result, reply_message_id = answer.message_id, provider = answer.provider,
      model = answer.model, input_tokens = answer.input_tokens, output_tokens = answer.output_tokens,
      cost_usd = answer.cost_usd, prompt_hash = answer.prompt_hash
    from answer
    where ${executions.id} = answer.id`);
}

/**
 * A platform rate limit: the attempt is handed back (not counted), and a new job starts after
 * `seconds`, in one transaction so the execution is never left without a job.
 */
export async function deferExecution(db: Db, queue: Queue, id: string, reason: string, seconds: number, deferrals: number): Promise<void> {
  await db.transaction(async (tx) => {
    await tx
      .update(executions)
      .set({ status: 'queued', attempts: sql`greatest(${executions.attempts} - 1, 0)`, error: reason.slice(0, 4000) })
      .where(eq(executions.id, id));
    await queue.enqueue(tx as unknown as Db, { executionId: id, deferrals }, seconds);
  });
}

/**
 * The last attempt never finished (its worker was killed, or it ran past the job timeout): `dead`, unless it
 * finished after all. Returns the agent of an execution it marked.
 */
export async function markLost(db: Db, id: string, error: string): Promise<string | undefined> {
  const [row] = await db
    .update(executions)
    .set({ status: 'dead', error, finishedAt: sql`now()` })
    .where(and(eq(executions.id, id), inArray(executions.status, ['queued', 'running', 'failed'])))
    .returning({ agent: executions.agent });
  return row?.agent;
}

/**
 * One execution's success: how long it took, how far delivery got where it is known, and its answer when that was
 * not stored before (a channel that delivers nothing: the answer and the success share the write).
 */
export type Success = { id: string; latencyMs: number; delivered?: Delivered; answer?: Answer };

/** Final success of each execution (its reply is delivered, or the channel has nowhere to deliver), one statement for all. */
export async function markSucceededMany(db: Db, done: Success[]): Promise<void> {
  const values = sql.join(
    done.map((d) => sql`(${d.id}::uuid, ${d.latencyMs}::int, ${d.delivered ? JSON.stringify(d.delivered) : null}::jsonb, ${answerValues(d.answer)})`),
    sql`, `,
  );
  // An execution without an answer here keeps the one stored before.
  const answered = (column: string) =>
    sql.raw(`${column} = case when done.result is null then executions.${column} else done.${column === 'reply_message_id' ? 'message_id' : column} end`);
  await db.execute(sql`
    with done(id, latency_ms, delivered, ${ANSWER_COLUMNS}) as (values ${values}),
    ${answerMessages(sql`done where result is not null`)}
    update ${executions} set status = 'succeeded', replied_at = coalesce(${executions.repliedAt}, now()), finished_at = now(), latency_ms = done.latency_ms, error = null,
      delivered = coalesce(done.delivered, ${executions.delivered}),
      ${sql.join(['result', 'reply_message_id', 'provider', 'model', 'input_tokens', 'output_tokens', 'cost_usd', 'prompt_hash'].map(answered), sql`, `)}
    from done
    where ${executions.id} = done.id`);
}

/** Parts of a reply delivered so far, written between parts so that an attempt anywhere continues after them. */
export async function recordDelivered(db: Db, id: string, delivered: Delivered): Promise<void> {
  await db.update(executions).set({ delivered }).where(eq(executions.id, id));
}

/** A failed attempt: `failed` while retries remain, `dead` after the last. */
export async function markFailed(db: Db, id: string, error: string, dead: boolean, latencyMs: number): Promise<void> {
  await db
    .update(executions)
    .set({ status: dead ? 'dead' : 'failed', error: error.slice(0, 4000), finishedAt: sql`now()`, latencyMs })
    .where(eq(executions.id, id));
}

/** Re-runs an execution as a new one linked to the original, enqueued in the same transaction. */
export async function createReplay(db: Db, queue: Queue, id: string): Promise<ExecutionRow | undefined> {
  return db.transaction(async (tx) => {
    const [original] = await tx.select().from(executions).where(eq(executions.id, id)).limit(1);
    if (!original) return undefined;
    const [copy] = await tx
      .insert(executions)
      .values({
        conversationId: original.conversationId,
        messageId: original.messageId,
        replayOf: original.id,
        channel: original.channel,
        tenantId: original.tenantId,
        userId: original.userId,
        agent: original.agent,
        intent: original.intent,
        args: original.args,
        envelope: original.envelope,
        destination: original.destination,
        routeId: original.routeId,
        receivedAt: new Date(),
      })
      .returning();
    await queue.enqueue(tx as unknown as Db, { executionId: copy!.id });
    return copy;
  });
}

/** Executions waiting to run: queued, or failed with a retry still to come. */
export async function queueDepth(db: Db): Promise<number> {
  const rows = rowsOf<{ n: number }>(await db.execute(sql`select count(*)::int as n from ${executions} where ${executions.status} in ('queued', 'failed')`));
  return Number(rows[0]?.n ?? 0);
}

/** Whose executions a report covers: one tenant of one channel, or (undefined) every tenant. */
export type TenantScope = { channel: string; tenantId: string };

const inScope = (scope: TenantScope | undefined) => (scope ? and(eq(executions.channel, scope.channel), eq(executions.tenantId, scope.tenantId)) : undefined);

export async function countsSince(db: Db, since: Date, scope?: TenantScope): Promise<Record<string, number>> {
  const rows = await db
    .select({ status: executions.status, n: sql<number>`count(*)::int` })
    .from(executions)
    .where(and(gte(executions.createdAt, since), inScope(scope)))
    .groupBy(executions.status);
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

export async function recentFailures(db: Db, limit: number, scope?: TenantScope) {
  return db
    .select({ id: executions.id, agent: executions.agent, error: executions.error, at: executions.finishedAt })
    .from(executions)
    .where(and(inArray(executions.status, ['failed', 'dead']), inScope(scope)))
    .orderBy(desc(executions.finishedAt))
    .limit(limit);
}
