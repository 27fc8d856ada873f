/**
 * Step 3 of the flow: one transaction stores a batch of envelopes with their deliveries, conversations,
 * messages, executions and jobs, a few multi-row statements for the whole batch (see db/group-commit.ts for
 * how concurrent requests join one).
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Destination } from '../src/ports.ts';
import type { Envelope, Intent } from '../src/types.ts';
import type { Db } from './client.ts';
import {
  conversationOf,
  deliveryKeyOf,
  insertMessagesAndExecutions,
  keysOf,
  lockPersons,
  needsSteps,
  newRows,
  personOf,
  storeAtOnce,
} from './ingest-at-once.ts';
import type { Queue } from './queue.ts';
import { rowsOf } from './rows.ts';
import { deliveries, executions } from './schema.ts';

export type IngestResult = { executionId: string; executionIds: string[]; conversationId: string; duplicate: boolean };

/** A person's hourly quota: at most `limit` executions created since `since`. */
export type Quota = { limit: number; since: Date; windowSeconds: number };

/** The person already started `limit` executions in the window: nothing was stored; they may ask again at `resetAt`. */
export type OverQuota = { overQuota: { resetAt: Date; limit: number } };

/** One execution to create: which agent, and where its reply goes when a routing rule says elsewhere. */
export type Assignment = { agent: string; intent: Intent; destination?: Destination; ruleId?: string };

/** One envelope to store, with its executions' targets and its sender's quota. */
export type IngestItem = { envelope: Envelope; targets: Assignment[]; quota?: Quota };

/**
 * Thrown when the batch's outcome would depend on the order its items are stored in (an item lost a key to
 * another item of the batch that was then refused or undone): the caller stores such a batch item by item.
 */
export class StoreSingly extends Error {}

/** Per item while its batch is stored: a duplicate, refused by its quota, or holding the delivery rows it inserted. */
type Outcome = 'duplicate' | OverQuota | { rowIds: string[] };

const byKey =
  <T>(key: (row: T) => string) =>
  (a: T, b: T) =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;

/**
 * Stores each envelope and enqueues its executions (one per routing target), or recognizes a duplicate
 * delivery and stores nothing for it; outcomes in the order of `items`.
 *
 * Exactly once: every key is one row of the unique (channel, delivery_id) index. A concurrent transaction
 * inserting the same key waits for this one's commit, then sees the conflict; inside one batch the first item
 * naming a key takes it. An envelope with a `contentKey` takes it as a second row, so the same signed content
 * under a new delivery id is a duplicate too; an item that gets only some of its keys, or that its quota
 * refuses, has the rows it got deleted again before commit, as a rollback of its own would.
 */
export async function ingestBatch(db: Db, queue: Queue, items: IngestItem[]): Promise<(IngestResult | OverQuota)[]> {
  // The common batch, every item new and under its quota, in one statement (db/ingest-at-once.ts); a batch whose
  // items share a key needs the step-by-step path's decisions at once.
  const keys = items.flatMap((item) => keysOf(item.envelope).map((k) => deliveryKeyOf(item.envelope.channel, k)));
  if (new Set(keys).size === keys.length) {
    try {
      return await storeAtOnce(db, queue, items);
    } catch (err) {
      if (!needsSteps(err)) throw err;
    }
  }
  return storeStepByStep(db, queue, items);
}

/** The batch with a decision per item: duplicates, quotas, keys wanted twice, conversations created meanwhile. */
async function storeStepByStep(db: Db, queue: Queue, items: IngestItem[]): Promise<(IngestResult | OverQuota)[]> {
  const outcomes = await db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    // Quota locks first, as at once: every batch waits for locks and keys in the same order, never in a cycle.
    await lockPersons(t, items);
    const keys = items.map((item) => keysOf(item.envelope));
    const claimedBy = new Map<string, number>();
    for (const [i, item] of items.entries()) {
      for (const k of keys[i]!) if (!claimedBy.has(deliveryKeyOf(item.envelope.channel, k))) claimedBy.set(deliveryKeyOf(item.envelope.channel, k), i);
    }
    // In key order: two batches that share keys then wait for each other in one order, never in a cycle.
    const deliveryRows = items
      .flatMap((item, i) => keys[i]!.map((deliveryId) => ({ channel: item.envelope.channel, delivery_id: deliveryId, received_at: item.envelope.receivedAt })))
      .sort(byKey((row) => deliveryKeyOf(row.channel, row.delivery_id)))
      .map((row, n) => ({ ...row, n }));
    const inserted = rowsOf<{ id: string; channel: string; delivery_id: string }>(
      await t.execute(sql`
        insert into deliveries (channel, delivery_id, received_at)
        select r.channel, r.delivery_id, r.received_at
        from json_to_recordset(${JSON.stringify(deliveryRows)}::json) as r(channel text, delivery_id text, received_at timestamptz, n int)
        order by r.n
        on conflict do nothing
        returning id, channel, delivery_id`),
    );
    const rowOf = new Map(inserted.map((r) => [deliveryKeyOf(r.channel, r.delivery_id), r.id]));

    const outcome: Outcome[] = [];
    const undo: string[] = [];
    for (const [i, item] of items.entries()) {
      const mine = keys[i]!.map((k) =>
        claimedBy.get(deliveryKeyOf(item.envelope.channel, k)) === i ? rowOf.get(deliveryKeyOf(item.envelope.channel, k)) : undefined,
      );
      if (mine.every((id) => id !== undefined)) {
        outcome.push({ rowIds: mine as string[] });
      } else {
        outcome.push('duplicate');
        undo.push(...mine.filter((id) => id !== undefined));
      }
    }
    await refuseOverQuota(t, items, outcome, undo);
    if (undo.length) {
      await t.delete(deliveries).where(inArray(deliveries.id, undo));
      // A key this batch gave up may be one another item of it wanted: only storing one by one settles who gets it.
      const released = new Set(inserted.filter((r) => undo.includes(r.id)).map((r) => deliveryKeyOf(r.channel, r.delivery_id)));
      if (
        items.some(
          (item, i) =>
            outcome[i] === 'duplicate' &&
            keys[i]!.some((k) => released.has(deliveryKeyOf(item.envelope.channel, k)) && claimedBy.get(deliveryKeyOf(item.envelope.channel, k)) !== i),
        )
      ) {
        throw new StoreSingly();
      }
    }

    const admitted = items.flatMap((item, i) => {
      const o = outcome[i]!;
      // Executions hang off the content key when there is one: it is the row every later duplicate finds.
      return typeof o === 'object' && 'rowIds' in o ? [{ i, item, deliveryRowId: o.rowIds[o.rowIds.length - 1]! }] : [];
    });
    const results = new Map<number, IngestResult>();
    if (admitted.length) {
      const conversationIds = await conversationsFor(
        t,
        admitted.map((a) => a.item.envelope),
      );
      const rows = newRows(admitted.map(({ item, deliveryRowId }, a) => ({ item, conversation: conversationIds[a]!, deliveryRowId })));
      for (const [a, { i }] of admitted.entries()) {
        results.set(i, { executionId: rows.ids[a]![0]!, executionIds: rows.ids[a]!, conversationId: conversationIds[a]!, duplicate: false });
      }
      // One statement for both tables: the executions' foreign key to their message is checked at its end.
      await t.execute(sql`with ${insertMessagesAndExecutions(rows, sql`uuid`, sql`r.conversation`, sql``)} select 1`);
      await queue.enqueueMany(
        t,
        rows.executions.map((row) => ({ executionId: row.id as string })),
      );
    }
    return outcome.map((o, i) => (o === 'duplicate' ? o : 'overQuota' in o ? o : results.get(i)!));
  });
  // Read after commit, so a duplicate of an item of this very batch finds what it stored.
  return Promise.all(outcomes.map((o, i) => (o === 'duplicate' ? duplicateOf(db, items[i]!.envelope) : o)));
}

/**
 * Marks the admitted items whose senders are over their quota, and queues their delivery rows for undoing.
 * Counted after the dedup rows, so a platform's retry of an admitted event stays a duplicate, and under the
 * person's quota lock (`lockPersons`, taken at the start of the transaction), so a burst cannot slip past;
 * messages of one person inside the batch count those admitted before them.
 */
async function refuseOverQuota(db: Db, items: IngestItem[], outcome: Outcome[], undo: string[]) {
  const counted = items.flatMap((item, i) => (item.quota && outcome[i] !== 'duplicate' ? [{ i, item, quota: item.quota }] : []));
  if (!counted.length) return;
  const since = new Date(Math.min(...counted.map((c) => c.quota.since.getTime())));
  const who = [...new Map(counted.map((c) => [personOf(c.item.envelope), { channel: c.item.envelope.channel, user_id: c.item.envelope.userId }])).values()];
  // One index lookup per person (the aggregate keeps the planner from turning it into a scan of every execution).
  const rows = rowsOf<{ channel: string; user_id: string; n: number; oldest: string | Date | null }>(
    await db.execute(sql`
      select w.channel, w.user_id, s.n, s.oldest
      from json_to_recordset(${JSON.stringify(who)}::json) as w(channel text, user_id text)
      cross join lateral (
        select count(*)::int as n, min(e.created_at) as oldest from executions e
        where e.channel = w.channel and e.user_id = w.user_id and e.created_at > ${since.toISOString()}::timestamptz
      ) as s
      where s.n > 0`),
  );
  const seen = new Map(
    rows.map((r) => [personOf({ channel: r.channel, userId: r.user_id }), { n: Number(r.n), oldest: r.oldest ? new Date(r.oldest) : undefined }]),
  );
  for (const { i, item, quota } of counted) {
    const person = personOf(item.envelope);
    const s = seen.get(person) ?? { n: 0, oldest: undefined };
    if (s.n < quota.limit) {
      seen.set(person, { n: s.n + item.targets.length, oldest: s.oldest ?? new Date() });
      continue;
    }
    const oldest = s.oldest ?? quota.since;
    undo.push(...(outcome[i] as { rowIds: string[] }).rowIds);
    outcome[i] = { overQuota: { resetAt: new Date(oldest.getTime() + quota.windowSeconds * 1000), limit: quota.limit } };
  }
}

type ConversationKey = Pick<Envelope, 'channel' | 'tenantId' | 'conversationKey'>;

/**
 * Each envelope's conversation id, created on first use. A conversation is one tenant's: its key is the source's
 * own text, so two tenants whose keys happen to meet (two workspaces, two hook sources) each have their own under
 * the same key, and never read each other's history. A plain read in the common case, and never a row update:
 * every event of a busy source shares one conversation, and locking its row would serialize their transactions.
 */
async function conversationsFor(db: Db, envelopes: ConversationKey[]): Promise<string[]> {
  const found = new Map<string, string>();
  // In key order, as the deliveries: concurrent batches creating the same conversations cannot deadlock.
  const unique = [...new Map(envelopes.map((e) => [conversationOf(e), e])).values()].sort(byKey(conversationOf));
  type Row = { id: string; channel: string; tenant_id: string; conversation_key: string };
  const keep = (rows: Row[]) => {
    for (const r of rows) found.set(conversationOf({ channel: r.channel, tenantId: r.tenant_id, conversationKey: r.conversation_key }), r.id);
  };
  const asJson = (list: ConversationKey[]) => JSON.stringify(list.map((e, n) => ({ channel: e.channel, tenant_id: e.tenantId, key: e.conversationKey, n })));
  // One index lookup per key (`limit 1` keeps the planner from joining the keys to a scan of every conversation).
  const read = async (list: ConversationKey[]) =>
    keep(
      rowsOf<Row>(
        await db.execute(sql`
          select c.id, c.channel, c.tenant_id, c.conversation_key
          from json_to_recordset(${asJson(list)}::json) as w(channel text, tenant_id text, key text)
          cross join lateral (
            select id, channel, tenant_id, conversation_key from conversations
            where channel = w.channel and tenant_id = w.tenant_id and conversation_key = w.key limit 1
          ) as c`),
      ),
    );
  await read(unique);
  const missing = unique.filter((e) => !found.has(conversationOf(e)));
  if (missing.length) {
    keep(
      rowsOf<Row>(
        await db.execute(sql`
          insert into conversations (channel, tenant_id, conversation_key)
          select w.channel, w.tenant_id, w.key from json_to_recordset(${asJson(missing)}::json) as w(channel text, tenant_id text, key text, n int)
          order by w.n
          on conflict do nothing
          returning id, channel, tenant_id, conversation_key`),
      ),
    );
    // Created meanwhile by another transaction: its row is committed now that our insert has seen the conflict.
    const raced = missing.filter((e) => !found.has(conversationOf(e)));
    if (raced.length) await read(raced);
  }
  return envelopes.map((e) => {
    const id = found.get(conversationOf(e));
    if (id === undefined) throw new Error(`conversation ${e.channel}/${e.tenantId}/${e.conversationKey} could not be created or read`);
    return id;
  });
}

async function duplicateOf(db: Db, envelope: Envelope): Promise<IngestResult> {
  const rows = await db
    .select({ executionId: executions.id, conversationId: executions.conversationId })
    .from(executions)
    .innerJoin(deliveries, eq(executions.deliveryId, deliveries.id))
    .where(and(eq(deliveries.channel, envelope.channel), inArray(deliveries.deliveryId, keysOf(envelope))))
    .orderBy(executions.createdAt);
  const ids = rows.map((r) => r.executionId);
  return { executionId: ids[0] ?? '', executionIds: ids, conversationId: rows[0]?.conversationId ?? '', duplicate: true };
}
