/**
 * The common batch in one statement: every item new, under its quota, its conversation found or created here. The
 * deliveries, conversations, messages, executions and pg-boss jobs are written by one statement of data-modifying
 * CTEs, which ends by checking that nothing needed a decision per item (a key already taken, a person over quota,
 * a conversation another transaction created meanwhile); if something did, the statement fails with nothing
 * written, and db/ingest.ts stores the batch step by step. On PostgreSQL that is one round trip and, without a
 * quota, no BEGIN or COMMIT of its own; with one, the quota locks go first in the same pipelined burst.
 */
import { randomUUID } from 'node:crypto';
import { newMessageId } from './message-id.ts';
import { type SQL, sql } from 'drizzle-orm';
import type { Db } from './client.ts';
import { isVoteAgent } from './feedback.ts';
import type { IngestItem, IngestResult } from './ingest.ts';
import type { Queue } from './queue.ts';
import { rowsOf } from './rows.ts';

/** The dedup keys of an envelope: its delivery id, and its content key when it has one. */
export const keysOf = (envelope: IngestItem['envelope']) =>
  envelope.contentKey === undefined ? [envelope.deliveryId] : [envelope.deliveryId, envelope.contentKey];
export const personOf = (who: { channel: string; userId: string }) => `switchboard:quota:${who.channel}:${who.userId}`;
/** A dedup key within its channel, as one string. */
export const deliveryKeyOf = (channel: string, key: string) => `${channel}\u0000${key}`;
/** A conversation's identity (channel, tenant, key), as one string. */
export const conversationOf = (c: { channel: string; tenantId: string; conversationKey: string }) =>
  `${c.channel}\u0000${c.tenantId}\u0000${c.conversationKey}`;
const MARK = 'switchboard: this batch is stored step by step';

/**
 * Takes the quota lock of each person in `items` that has a quota, in one order for every batch, so concurrent
 * messages from one person (in any process) are counted one after another.
 */
export function lockPersons(db: Db, items: IngestItem[]): Promise<void> {
  const persons = [...new Set(items.flatMap((item) => (item.quota ? [personOf(item.envelope)] : [])))].sort();
  if (!persons.length) return Promise.resolve();
  // The aggregate takes the locks one after another in the sorted order of its input. A drizzle query is sent
  // when its then() is called: called here, so it goes before anything the caller sends after.
  return db
    .execute(
      sql`select count(pg_advisory_xact_lock(hashtextextended(k, 0))) from (select k from json_array_elements_text(${JSON.stringify(persons)}::json) as k order by k) as sorted`,
    )
    .then(() => undefined);
}

/**
 * Snake-case rows for json_to_recordset (a batch goes to the database as one JSON text per table, serialized once,
 * not a bound parameter per column per row). `conversation` is whatever names the item's conversation in the
 * statement. Ids are made here, so the message names its execution and the execution its delivery row without a
 * second write.
 */
export function newRows(stored: { item: IngestItem; conversation: string | number; deliveryRowId: string }[]) {
  const messages: Record<string, unknown>[] = [];
  const executions: Record<string, unknown>[] = [];
  const ids = stored.map(({ item, conversation, deliveryRowId }) => {
    const { envelope, targets } = item;
    const messageId = newMessageId();
    const executionIds = targets.map(() => randomUUID());
    messages.push({
      id: messageId,
      conversation,
      user_id: envelope.userId,
      user_name: envelope.userName,
      text: envelope.text,
      execution_id: executionIds[0],
      vote: isVoteAgent(targets[0]?.agent),
    });
    const receivedAt = new Date(envelope.receivedAt).toISOString();
    for (const [n, assigned] of targets.entries()) {
      executions.push({
        n: executions.length,
        id: executionIds[n],
        conversation,
        message_id: messageId,
        delivery_id: deliveryRowId,
        channel: envelope.channel,
        tenant_id: envelope.tenantId,
        user_id: envelope.userId,
        agent: assigned.agent,
        intent: assigned.intent.name,
        args: assigned.intent.args,
        envelope,
        destination: assigned.destination,
        route_id: assigned.ruleId,
        received_at: receivedAt,
      });
    }
    return executionIds;
  });
  return { messages, executions, ids };
}

/**
 * CTEs `m` and `e` inserting the messages and executions of `rows`; a row's `conversation`, of `conversationType`,
 * becomes its conversation id through `conversationId` after `join`.
 */
export function insertMessagesAndExecutions(rows: ReturnType<typeof newRows>, conversationType: SQL, conversationId: SQL, join: SQL) {
  return sql`
    m as (
      insert into messages (id, conversation_id, role, user_id, user_name, text, execution_id, vote)
      select r.id, ${conversationId}, 'user', r.user_id, r.user_name, r.text, r.execution_id, r.vote
      from json_to_recordset(${JSON.stringify(rows.messages)}::json)
        as r(id uuid, conversation ${conversationType}, user_id text, user_name text, text text, execution_id uuid, vote boolean)
      ${join}
    ),
    e as (
      insert into executions (id, conversation_id, message_id, delivery_id, channel, tenant_id, user_id, agent, intent, args, envelope, destination, route_id, received_at)
      select r.id, ${conversationId}, r.message_id, r.delivery_id, r.channel, r.tenant_id, r.user_id, r.agent, r.intent, coalesce(r.args, '{}'), r.envelope, r.destination, r.route_id, r.received_at
      from json_to_recordset(${JSON.stringify(rows.executions)}::json)
        as r(id uuid, conversation ${conversationType}, message_id uuid, delivery_id uuid, channel text, tenant_id text, user_id text, agent text, intent text,
             args jsonb, envelope jsonb, destination jsonb, route_id uuid, received_at timestamptz, n int)
      ${join}
      -- In the order of the targets: a duplicate finds its executions in the order they were made.
      order by r.n
    )`;
}

/** pg-boss's own insert of the jobs, as a CTE of the caller's statement. */
async function jobsCte(queue: Queue, executionIds: string[]): Promise<SQL> {
  const { text, value } = await queue.insertStatement(executionIds.map((executionId) => ({ executionId })));
  const [before, after] = text.split('$1') as [string, string];
  return sql`j as (${sql.raw(before)}${value}${sql.raw(after)})`;
}

/**
 * Whether `err` is the at-once statement saying this batch needs a decision per item. Read from the database's own
 * error (drizzle's `cause`): drizzle's message lists every parameter of the failed query, the mark among them, so it
 * names the mark whatever failed.
 */
export const needsSteps = (err: unknown) => {
  const failed = err as { message?: unknown; cause?: { message?: unknown } } | null | undefined;
  return String((failed?.cause ?? failed)?.message ?? '').includes(MARK);
};

/**
 * Stores every item of the batch in one statement, or fails with `needsSteps(err)` true and nothing written.
 * Callers send only batches whose items name distinct keys.
 */
export async function storeAtOnce(db: Db, queue: Queue, items: IngestItem[]): Promise<IngestResult[]> {
  // In key order, as step by step: concurrent batches creating the same conversations or deliveries cannot deadlock.
  const conversationIndex = new Map([...new Set(items.map((item) => conversationOf(item.envelope)))].sort().map((k, n) => [k, n]));
  const conversations = [...conversationIndex.keys()].map((k, n) => {
    const [channel, tenant_id, key] = k.split('\u0000');
    return { channel, tenant_id, key, n };
  });
  const rowOf = new Map<string, { id: string; channel: string; delivery_id: string; received_at: string }>();
  for (const { envelope } of items) {
    for (const k of keysOf(envelope))
      rowOf.set(deliveryKeyOf(envelope.channel, k), { id: randomUUID(), channel: envelope.channel, delivery_id: k, received_at: envelope.receivedAt });
  }
  const deliveries = [...rowOf.keys()].sort().map((k, n) => ({ ...rowOf.get(k)!, n }));
  // Every key of every item, so two items naming one key (which the caller does not send) could not pass as stored.
  const keyCount = items.reduce((sum, item) => sum + keysOf(item.envelope).length, 0);
  // Executions hang off the content key when there is one: it is the row every later duplicate finds.
  const rows = newRows(
    items.map((item) => ({
      item,
      conversation: conversationIndex.get(conversationOf(item.envelope))!,
      deliveryRowId: rowOf.get(deliveryKeyOf(item.envelope.channel, keysOf(item.envelope).at(-1)!))!.id,
    })),
  );
  // Each counted item: its person's executions in the window, plus those the batch admits before it, under the limit.
  const admitted = new Map<string, number>();
  const quotas = items.flatMap(({ envelope, quota, targets }) => {
    if (!quota) return [];
    const before = admitted.get(personOf(envelope)) ?? 0;
    admitted.set(personOf(envelope), before + targets.length);
    return [{ channel: envelope.channel, user_id: envelope.userId, before, quota: quota.limit }];
  });
  // Counted from the earliest start among the batch's quotas, as step by step.
  const since = new Date(Math.min(...items.flatMap((item) => (item.quota ? [item.quota.since.getTime()] : [])), Date.now()));
  const statement = sql`
    with
    d as (
      insert into deliveries (id, channel, delivery_id, received_at)
      select r.id, r.channel, r.delivery_id, r.received_at
      from json_to_recordset(${JSON.stringify(deliveries)}::json)
        as r(id uuid, channel text, delivery_id text, received_at timestamptz, n int)
      order by r.n
      on conflict do nothing
      returning 1
    ),
    q as (
      -- One index lookup per person (the aggregate keeps the planner from scanning every execution).
      select coalesce(bool_and(s.n + w.before < w.quota), true) as ok
      from json_to_recordset(${JSON.stringify(quotas)}::json) as w(channel text, user_id text, before int, quota int)
      cross join lateral (
        select count(*)::int as n from executions e
        where e.channel = w.channel and e.user_id = w.user_id and e.created_at > ${since.toISOString()}::timestamptz
      ) as s
    ),
    k as (select * from json_to_recordset(${JSON.stringify(conversations)}::json) as k(channel text, tenant_id text, key text, n int)),
    -- A plain read in the common case, never a row update: every event of a busy source shares one conversation.
    found as (
      select k.n, f.id from k
      cross join lateral (
        select id from conversations where channel = k.channel and tenant_id = k.tenant_id and conversation_key = k.key limit 1
      ) as f
    ),
    made as (
      insert into conversations (channel, tenant_id, conversation_key)
      select k.channel, k.tenant_id, k.key from k where not exists (select 1 from found where found.n = k.n)
      order by k.n
      on conflict do nothing
      returning id, channel, tenant_id, conversation_key
    ),
    c as (
      select n, id from found
      union all
      select k.n, made.id from made join k on k.channel = made.channel and k.tenant_id = made.tenant_id and k.key = made.conversation_key
    ),
    ${insertMessagesAndExecutions(rows, sql`int`, sql`c.id`, sql`join c on c.n = r.conversation`)},
    ${await jobsCte(
      queue,
      rows.executions.map((e) => e.id as string),
    )}
    select
      (case when (select count(*) from d) = ${keyCount} and (select ok from q) and (select count(*) from c) = ${conversations.length}
        then '0' else ${MARK} end)::int as checked,
      (select json_agg(json_build_array(n, id)) from c) as conversations`;
  // Sent together: the locks are taken before the statement starts, so its counts see every commit they waited for.
  const run = async (t: Db) => {
    const locked = lockPersons(t, items);
    const stored = t.execute(statement).then((result) => result);
    return (await Promise.all([stored, locked]))[0];
  };
  const result = quotas.length ? await db.transaction((tx) => run(tx as unknown as Db)) : await run(db);
  // Both drivers (postgres.js, PGlite) parse a json column.
  const [row] = rowsOf<{ conversations: [number, string][] }>(result);
  const idOf = new Map(row!.conversations);
  return items.map((item, i) => {
    const conversationId = idOf.get(conversationIndex.get(conversationOf(item.envelope))!)!;
    return { executionId: rows.ids[i]![0]!, executionIds: rows.ids[i]!, conversationId, duplicate: false };
  });
}
