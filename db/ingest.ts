/**
 * Step 3 of the flow: one transaction stores a batch of envelopes with their deliveries, conversations,
 * messages, executions and jobs, a few multi-row statements for the whole batch (see db/group-commit.ts for
 * how concurrent requests join one).
 */
import { randomUUID } from 'node:crypto';
import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { Destination } from '../src/ports.ts';
import type { Envelope, Intent } from '../src/types.ts';
import type { Db } from './client.ts';
import type { Queue } from './queue.ts';
import { rowsOf } from './rows.ts';
import { conversations, deliveries, executions, messages } from './schema.ts';

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

/** The dedup keys of an envelope: its delivery id, and its content key when it has one. */
const keysOf = (envelope: Envelope) => (envelope.contentKey === undefined ? [envelope.deliveryId] : [envelope.deliveryId, envelope.contentKey]);
const keyOf = (channel: string, key: string) => `${channel}\u0000${key}`;
/** Per item while its batch is stored: a duplicate, refused by its quota, or holding the delivery rows it inserted. */
type Outcome = 'duplicate' | OverQuota | { rowIds: string[] };

const byKey =
  <T>(key: (row: T) => string) =>
  (a: T, b: T) =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
const personOf = (envelope: Envelope) => `switchboard:quota:${envelope.channel}:${envelope.userId}`;

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
  const outcomes = await db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    const keys = items.map((item) => keysOf(item.envelope));
    const claimedBy = new Map<string, number>();
    for (const [i, item] of items.entries()) {
      for (const k of keys[i]!) if (!claimedBy.has(keyOf(item.envelope.channel, k))) claimedBy.set(keyOf(item.envelope.channel, k), i);
    }
    const inserted = await t
      .insert(deliveries)
      // In key order: two batches that share keys then wait for each other in one order, never in a cycle.
      .values(
        items
          .flatMap((item, i) => keys[i]!.map((deliveryId) => ({ channel: item.envelope.channel, deliveryId, receivedAt: new Date(item.envelope.receivedAt) })))
          .sort(byKey((row) => keyOf(row.channel, row.deliveryId))),
      )
      .onConflictDoNothing()
      .returning({ id: deliveries.id, channel: deliveries.channel, deliveryId: deliveries.deliveryId });
    const rowOf = new Map(inserted.map((r) => [keyOf(r.channel, r.deliveryId), r.id]));

    const outcome: Outcome[] = [];
    const undo: string[] = [];
    for (const [i, item] of items.entries()) {
      const mine = keys[i]!.map((k) => (claimedBy.get(keyOf(item.envelope.channel, k)) === i ? rowOf.get(keyOf(item.envelope.channel, k)) : undefined));
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
      const released = new Set(inserted.filter((r) => undo.includes(r.id)).map((r) => keyOf(r.channel, r.deliveryId)));
      if (
        items.some(
          (item, i) =>
            outcome[i] === 'duplicate' &&
            keys[i]!.some((k) => released.has(keyOf(item.envelope.channel, k)) && claimedBy.get(keyOf(item.envelope.channel, k)) !== i),
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
      const messageRows: (typeof messages.$inferInsert)[] = [];
      const executionRows: (typeof executions.$inferInsert)[] = [];
      for (const { i, item, deliveryRowId } of admitted) {
        const { envelope, targets } = item;
        const conversationId = conversationIds[admitted.findIndex((a) => a.i === i)]!;
        // Ids are made here so the message can name its execution without a second write.
        const messageId = randomUUID();
        const ids = targets.map(() => randomUUID());
        messageRows.push({
          id: messageId,
          conversationId,
          role: 'user',
          userId: envelope.userId,
          userName: envelope.userName,
          text: envelope.text,
          executionId: ids[0],
        });
        for (const [n, assigned] of targets.entries()) {
          executionRows.push({
            id: ids[n],
            conversationId,
            messageId,
            deliveryId: deliveryRowId,
            channel: envelope.channel,
            tenantId: envelope.tenantId,
            userId: envelope.userId,
            agent: assigned.agent,
            intent: assigned.intent.name,
            args: assigned.intent.args,
            envelope: envelope as unknown as Record<string, unknown>,
            destination: assigned.destination ?? null,
            routeId: assigned.ruleId ?? null,
            receivedAt: new Date(envelope.receivedAt),
          });
        }
        results.set(i, { executionId: ids[0]!, executionIds: ids, conversationId, duplicate: false });
      }
      await t.insert(messages).values(messageRows);
      await t.insert(executions).values(executionRows);
      await queue.enqueueMany(
        t,
        executionRows.map((row) => ({ executionId: row.id! })),
      );
    }
    return outcome.map((o, i) => (o === 'duplicate' ? o : 'overQuota' in o ? o : results.get(i)!));
  });
  // Read after commit, so a duplicate of an item of this very batch finds what it stored.
  return Promise.all(outcomes.map((o, i) => (o === 'duplicate' ? duplicateOf(db, items[i]!.envelope) : o)));
}

/**
 * Marks the admitted items whose senders are over their quota, and queues their delivery rows for undoing.
 * Counted after the dedup rows, so a platform's retry of an admitted event stays a duplicate. A
 * transaction-scoped advisory lock per person, taken in one order by every batch, makes concurrent messages
 * from one person (in any process) count one after another, so a burst cannot slip past; messages of one
 * person inside the batch count those admitted before them.
 */
async function refuseOverQuota(db: Db, items: IngestItem[], outcome: Outcome[], undo: string[]) {
  const counted = items.flatMap((item, i) => (item.quota && outcome[i] !== 'duplicate' ? [{ i, item, quota: item.quota }] : []));
  if (!counted.length) return;
  const persons = [...new Set(counted.map((c) => personOf(c.item.envelope)))].sort();
  // The aggregate takes the locks one after another in the sorted order of its input.
  await db.execute(
    sql`select count(pg_advisory_xact_lock(hashtextextended(k, 0))) from (select k from unnest(${pgTextArray(persons)}) as k order by k) as sorted`,
  );
  const since = new Date(Math.min(...counted.map((c) => c.quota.since.getTime())));
  const who = sql.join(
    [...new Map(counted.map((c) => [personOf(c.item.envelope), c.item.envelope])).values()].map((e) => sql`(${e.channel}, ${e.userId})`),
    sql`, `,
  );
  const rows = rowsOf<{ channel: string; user_id: string; n: number; oldest: string | Date | null }>(
    await db.execute(sql`
      select ${executions.channel} as channel, ${executions.userId} as user_id, count(*)::int as n, min(${executions.createdAt}) as oldest
      from ${executions}
      where (${executions.channel}, ${executions.userId}) in (${who}) and ${executions.createdAt} > ${since.toISOString()}::timestamptz
      group by 1, 2`),
  );
  const seen = new Map(rows.map((r) => [`switchboard:quota:${r.channel}:${r.user_id}`, { n: Number(r.n), oldest: r.oldest ? new Date(r.oldest) : undefined }]));
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

/** A text[] parameter, spelled so that every driver passes it as one value. */
function pgTextArray(values: string[]): SQL {
  return sql`array[${sql.join(
    values.map((v) => sql`${v}`),
    sql`, `,
  )}]::text[]`;
}

type ConversationKey = Pick<Envelope, 'channel' | 'conversationKey' | 'tenantId'>;

/**
 * Each envelope's conversation id, created on first use. A conversation belongs to one tenant: keys are unique
 * per channel, not per tenant, so when another tenant already holds this key (two workspaces or hook sources
 * whose keys happen to meet), this tenant gets a conversation of its own under a key that names it, and never
 * reads the other's history.
 */
async function conversationsFor(db: Db, envelopes: ConversationKey[]): Promise<string[]> {
  const first = await conversationsAt(
    db,
    envelopes.map((e) => ({ channel: e.channel, key: e.conversationKey, tenantId: e.tenantId })),
  );
  const other = envelopes.map((e, i) =>
    first[i] === undefined ? { channel: e.channel, key: `${e.tenantId}/${e.conversationKey}`, tenantId: e.tenantId } : undefined,
  );
  const wanted = other.filter((o) => o !== undefined);
  const second = wanted.length ? await conversationsAt(db, wanted) : [];
  let n = 0;
  return envelopes.map((e, i) => {
    const id = first[i] ?? second[n++];
    if (id === undefined) throw new Error(`conversation ${e.channel}/${e.conversationKey} belongs to another tenant than ${e.tenantId}`);
    return id;
  });
}

type ConversationAt = { channel: string; key: string; tenantId: string };

/**
 * The id of the conversation under each key, created on first use, or undefined where it belongs to another
 * tenant. A plain read in the common case, and never a row update: every event of a busy source shares one
 * conversation, and locking its row would serialize their transactions.
 */
async function conversationsAt(db: Db, wanted: ConversationAt[]): Promise<(string | undefined)[]> {
  const found = new Map<string, { id: string; tenantId: string }>();
  // In key order, as the deliveries: concurrent batches creating the same conversations cannot deadlock.
  const unique = [...new Map(wanted.map((w) => [keyOf(w.channel, w.key), w])).values()].sort(byKey((w) => keyOf(w.channel, w.key)));
  const read = async (list: ConversationAt[]) => {
    const pairs = sql.join(
      list.map((w) => sql`(${w.channel}, ${w.key})`),
      sql`, `,
    );
    const rows = await db
      .select({ id: conversations.id, channel: conversations.channel, key: conversations.conversationKey, tenantId: conversations.tenantId })
      .from(conversations)
      .where(sql`(${conversations.channel}, ${conversations.conversationKey}) in (${pairs})`);
    for (const r of rows) found.set(keyOf(r.channel, r.key), { id: r.id, tenantId: r.tenantId });
  };
  await read(unique);
  const missing = unique.filter((w) => !found.has(keyOf(w.channel, w.key)));
  if (missing.length) {
    const created = await db
      .insert(conversations)
      .values(missing.map((w) => ({ channel: w.channel, conversationKey: w.key, tenantId: w.tenantId })))
      .onConflictDoNothing()
      .returning({ id: conversations.id, channel: conversations.channel, key: conversations.conversationKey, tenantId: conversations.tenantId });
    for (const r of created) found.set(keyOf(r.channel, r.key), { id: r.id, tenantId: r.tenantId });
    // Created meanwhile by another transaction: its row is committed now that our insert has seen the conflict.
    const raced = missing.filter((w) => !found.has(keyOf(w.channel, w.key)));
    if (raced.length) await read(raced);
  }
  return wanted.map((w) => {
    const row = found.get(keyOf(w.channel, w.key));
    if (row === undefined) throw new Error(`conversation ${w.channel}/${w.key} could not be created or read`);
    return row.tenantId === w.tenantId ? row.id : undefined;
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
