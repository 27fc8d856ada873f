/** Step 3 of the flow: one transaction stores the delivery, conversation, message, execution and job. */
import { and, eq, sql } from 'drizzle-orm';
import type { Destination } from '../src/ports.ts';
import type { Envelope, Intent } from '../src/types.ts';
import type { Db } from './client.ts';
import type { Queue } from './queue.ts';
import { conversations, deliveries, executions, messages } from './schema.ts';

export type IngestResult = { executionId: string; executionIds: string[]; conversationId: string; duplicate: boolean };

/** One execution to create: which agent, and where its reply goes when a routing rule says elsewhere. */
export type Routed = { agent: string; intent: Intent; destination?: Destination; routeId?: string };

/**
 * Stores one envelope and enqueues its executions (one per routing target), or recognizes a
 * duplicate delivery and stores nothing. Concurrent duplicates serialize on the unique (channel, delivery_id) index: the loser
 * waits for the winner's commit, then sees the conflict.
 */
export async function ingestEnvelope(db: Db, queue: Queue, envelope: Envelope, targets: Routed[]): Promise<IngestResult> {
  return db.transaction(async (tx) => {
    const [delivery] = await tx
      .insert(deliveries)
      .values({ channel: envelope.channel, deliveryId: envelope.deliveryId, receivedAt: new Date(envelope.receivedAt) })
      .onConflictDoNothing()
      .returning({ id: deliveries.id });
    if (!delivery) return duplicateOf(tx as unknown as Db, envelope);

    const conversationId = await upsertConversation(tx as unknown as Db, envelope);
    const [message] = await tx
      .insert(messages)
      .values({ conversationId, role: 'user', userId: envelope.userId, userName: envelope.userName, text: envelope.text })
      .returning({ id: messages.id });
    const ids: string[] = [];
    for (const routed of targets) {
      const [execution] = await tx
        .insert(executions)
        .values({
          conversationId,
          messageId: message!.id,
          deliveryId: delivery.id,
          channel: envelope.channel,
          tenantId: envelope.tenantId,
          userId: envelope.userId,
          agent: routed.agent,
          intent: routed.intent.name,
          args: routed.intent.args,
          envelope: envelope as unknown as Record<string, unknown>,
          destination: routed.destination ?? null,
          routeId: routed.routeId ?? null,
          receivedAt: new Date(envelope.receivedAt),
        })
        .returning({ id: executions.id });
      ids.push(execution!.id);
      await queue.enqueue(tx as unknown as Db, { executionId: execution!.id });
    }
    await tx.update(messages).set({ executionId: ids[0] }).where(eq(messages.id, message!.id));
    return { executionId: ids[0]!, executionIds: ids, conversationId, duplicate: false };
  });
}

export async function upsertConversation(db: Db, envelope: Pick<Envelope, 'channel' | 'conversationKey' | 'tenantId'>): Promise<string> {
  const [row] = await db
    .insert(conversations)
    .values({ channel: envelope.channel, conversationKey: envelope.conversationKey, tenantId: envelope.tenantId })
    .onConflictDoUpdate({
      target: [conversations.channel, conversations.conversationKey],
      set: { updatedAt: sql`now()` },
    })
    .returning({ id: conversations.id });
  return row!.id;
}

async function duplicateOf(db: Db, envelope: Envelope): Promise<IngestResult> {
  const rows = await db
    .select({ executionId: executions.id, conversationId: executions.conversationId })
    .from(executions)
    .innerJoin(deliveries, eq(executions.deliveryId, deliveries.id))
    .where(and(eq(deliveries.channel, envelope.channel), eq(deliveries.deliveryId, envelope.deliveryId)))
    .orderBy(executions.createdAt);
  const ids = rows.map((r) => r.executionId);
  return { executionId: ids[0] ?? '', executionIds: ids, conversationId: rows[0]?.conversationId ?? '', duplicate: true };
}
