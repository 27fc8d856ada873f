/** Step 3 of the flow: one transaction stores the delivery, conversation, message, execution and job. */
import { randomUUID } from 'node:crypto';
import { and, count, eq, gt, inArray, min, sql } from 'drizzle-orm';
import type { Destination } from '../src/ports.ts';
import type { Envelope, Intent } from '../src/types.ts';
import type { Db } from './client.ts';
import type { Queue } from './queue.ts';
import { conversations, deliveries, executions, messages } from './schema.ts';

export type IngestResult = { executionId: string; executionIds: string[]; conversationId: string; duplicate: boolean };

/** A person's hourly quota: at most `limit` executions created since `since`. */
export type Quota = { limit: number; since: Date; windowSeconds: number };

/** The person already started `limit` executions in the window: nothing was stored; they may ask again at `resetAt`. */
export type OverQuota = { overQuota: { resetAt: Date; limit: number } };

/** One execution to create: which agent, and where its reply goes when a routing rule says elsewhere. */
export type Assignment = { agent: string; intent: Intent; destination?: Destination; ruleId?: string };

/**
 * Stores one envelope and enqueues its executions (one per routing target), or recognizes a
 * duplicate delivery and stores nothing. Concurrent duplicates serialize on the unique (channel, delivery_id) index: the loser
 * waits for the winner's commit, then sees the conflict. An envelope with a `contentKey` claims it as a second
 * delivery row in the same transaction, so the same signed content under a new delivery id is a duplicate too.
 */
export async function ingestEnvelope(db: Db, queue: Queue, envelope: Envelope, targets: Assignment[], quota?: Quota): Promise<IngestResult | OverQuota> {
  try {
    return await db.transaction(async (tx) => {
      const keys = envelope.contentKey === undefined ? [envelope.deliveryId] : [envelope.deliveryId, envelope.contentKey];
      const receivedAt = new Date(envelope.receivedAt);
      const inserted = await tx
        .insert(deliveries)
        .values(keys.map((deliveryId) => ({ channel: envelope.channel, deliveryId, receivedAt })))
        .onConflictDoNothing()
        .returning({ id: deliveries.id, deliveryId: deliveries.deliveryId });
      if (inserted.length === 0) return duplicateOf(tx as unknown as Db, envelope);
      // The content was stored under another delivery id (or this id with other content): undo this delivery's row.
      if (inserted.length < keys.length) throw new SeenContent();
      // Counted after the dedup rows, so a platform's retry of an admitted event stays a duplicate; rolled back
      // when over, so a refused event leaves nothing behind.
      const over = quota && (await overQuota(tx as unknown as Db, envelope, quota));
      if (over) throw new Refused(over);
      // Executions hang off the content key when there is one: it is the row every later duplicate finds.
      const delivery = inserted.find((row) => row.deliveryId === keys[keys.length - 1])!;

      const conversationId = await conversationFor(tx as unknown as Db, envelope);
      // Ids are made here so the message can name its execution without a second write.
      const messageId = randomUUID();
      const ids = targets.map(() => randomUUID());
      await tx.insert(messages).values({
        id: messageId,
        conversationId,
        role: 'user',
        userId: envelope.userId,
        userName: envelope.userName,
        text: envelope.text,
        executionId: ids[0],
      });
      await tx.insert(executions).values(
        targets.map((target, i) => ({
          id: ids[i],
          conversationId,
          messageId,
          deliveryId: delivery.id,
          channel: envelope.channel,
          tenantId: envelope.tenantId,
          userId: envelope.userId,
          agent: target.agent,
          intent: target.intent.name,
          args: target.intent.args,
          envelope: envelope as unknown as Record<string, unknown>,
          destination: target.destination ?? null,
          routeId: target.ruleId ?? null,
          receivedAt: new Date(envelope.receivedAt),
        })),
      );
      for (const id of ids) await queue.enqueue(tx as unknown as Db, { executionId: id });
      return { executionId: ids[0]!, executionIds: ids, conversationId, duplicate: false };
    });
  } catch (err) {
    if (err instanceof Refused) return err.over;
    if (!(err instanceof SeenContent)) throw err;
    return duplicateOf(db, envelope);
  }
}

/** Thrown inside the ingest transaction to roll back a delivery whose content key is already taken. */
class SeenContent extends Error {}

/** Thrown inside the ingest transaction to roll back a delivery its sender's quota refuses. */
class Refused extends Error {
  readonly over: OverQuota;
  constructor(over: OverQuota) {
    super('over quota');
    this.over = over;
  }
}

/**
 * Counts the person's executions in the quota window. A transaction-scoped advisory lock per person makes
 * concurrent messages from one person (in any process) count one after another, so a burst cannot slip past.
 */
async function overQuota(db: Db, envelope: Envelope, quota: Quota): Promise<OverQuota | undefined> {
  await db.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`switchboard:quota:${envelope.channel}:${envelope.userId}`}, 0))`);
  const [row] = await db
    .select({ n: count(), oldest: min(executions.createdAt) })
    .from(executions)
    .where(and(eq(executions.channel, envelope.channel), eq(executions.userId, envelope.userId), gt(executions.createdAt, quota.since)));
  if (Number(row?.n ?? 0) < quota.limit) return undefined;
  const oldest = row?.oldest ? new Date(row.oldest) : quota.since;
  return { overQuota: { resetAt: new Date(oldest.getTime() + quota.windowSeconds * 1000), limit: quota.limit } };
}

/**
 * The conversation's id, created on first use. A conversation belongs to one tenant: keys are unique per channel,
 * not per tenant, so when another tenant already holds this key (two workspaces or hook sources whose keys happen
 * to meet), this tenant gets a conversation of its own under a key that names it, and never reads the other's history.
 */
export async function conversationFor(db: Db, envelope: Pick<Envelope, 'channel' | 'conversationKey' | 'tenantId'>): Promise<string> {
  const { channel, conversationKey, tenantId } = envelope;
  const id = (await conversationAt(db, channel, conversationKey, tenantId)) ?? (await conversationAt(db, channel, `${tenantId}/${conversationKey}`, tenantId));
  if (id === undefined) throw new Error(`conversation ${channel}/${conversationKey} belongs to another tenant than ${tenantId}`);
  return id;
}

/**
 * The id of the conversation under `key`, created on first use, or undefined when it belongs to another tenant.
 * A plain read in the common case, and never a row update: every event of a busy source shares one conversation,
 * and locking its row would serialize their transactions.
 */
async function conversationAt(db: Db, channel: string, key: string, tenantId: string): Promise<string | undefined> {
  const where = and(eq(conversations.channel, channel), eq(conversations.conversationKey, key));
  for (let attempt = 0; attempt < 2; attempt++) {
    const [existing] = await db.select({ id: conversations.id, tenantId: conversations.tenantId }).from(conversations).where(where).limit(1);
    if (existing) return existing.tenantId === tenantId ? existing.id : undefined;
    const [created] = await db
      .insert(conversations)
      .values({ channel, conversationKey: key, tenantId })
      .onConflictDoNothing()
      .returning({ id: conversations.id });
    if (created) return created.id;
  }
  throw new Error(`conversation ${channel}/${key} could not be created or read`);
}

async function duplicateOf(db: Db, envelope: Envelope): Promise<IngestResult> {
  const keys = envelope.contentKey === undefined ? [envelope.deliveryId] : [envelope.deliveryId, envelope.contentKey];
  const rows = await db
    .select({ executionId: executions.id, conversationId: executions.conversationId })
    .from(executions)
    .innerJoin(deliveries, eq(executions.deliveryId, deliveries.id))
    .where(and(eq(deliveries.channel, envelope.channel), inArray(deliveries.deliveryId, keys)))
    .orderBy(executions.createdAt);
  const ids = rows.map((r) => r.executionId);
  return { executionId: ids[0] ?? '', executionIds: ids, conversationId: rows[0]?.conversationId ?? '', duplicate: true };
}
