/**
 * One batch of envelopes stored by db/ingest.ts `ingestBatch`, on the real store and queue over one embedded database
 * per file: what is stored for each item, which items are duplicates (by delivery id or signed content, across
 * batches and inside one), quotas, conversations per tenant, and the batch that must be stored item by item. Fast on
 * purpose: `npm run mutate` runs these once per mutant.
 */
import { randomUUID } from 'node:crypto';
import { eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../db/client.ts';
import { needsSteps, storeAtOnce } from '../db/ingest-at-once.ts';
import { openEmbeddedStore } from './support/databases.ts';
import { ingestBatch, StoreSingly, type IngestItem, type IngestResult, type OverQuota } from '../db/ingest.ts';
import { conversations, deliveries, executions, messages } from '../db/schema.ts';
import type { Envelope } from '../src/types.ts';

let opened: Awaited<ReturnType<typeof openEmbeddedStore>>;

beforeAll(async () => {
  opened = await openEmbeddedStore('ingest');
}, 120_000);

afterAll(async () => {
  await opened?.remove();
});

const ask = { agent: 'ask', intent: { name: 'ask' as const, args: { question: 'why?' } } };

function envelope(over: Partial<Envelope> = {}): Envelope {
  return {
    channel: 'slack',
    deliveryId: `d-${randomUUID()}`,
    tenantId: 'T1',
    conversationKey: `T1:C1:${randomUUID()}`,
    userId: 'U1',
    userName: 'ann',
    text: 'ask why?',
    replyRef: { kind: 'thread' },
    receivedAt: '2026-01-01T10:00:00.000Z',
    ...over,
  } as Envelope;
}

const batch = (items: IngestItem[]) => ingestBatch(opened.handle.db, opened.store.queue, items);
const stored = (o: IngestResult | OverQuota | undefined) => {
  expect(o).toMatchObject({ duplicate: false });
  return o as IngestResult;
};

describe('storing a batch of envelopes', () => {
  it('stores each envelope once: its delivery, conversation, message and one queued execution per target', async () => {
    const e = envelope({ contentKey: `sha256:${randomUUID()}` });
    const destination = { channel: 'telegram' as const, target: '-100' };
    const [result] = await batch([
      { envelope: e, targets: [ask, { agent: 'summarize', intent: { name: 'summarize', args: {} }, destination, ruleId: randomUUID() }] },
    ]);
    const r = stored(result);
    expect(r.executionIds).toHaveLength(2);
    expect(r.executionId).toBe(r.executionIds[0]);
    const rows = await opened.handle.db.select().from(executions).where(inArray(executions.id, r.executionIds));
    const byId = new Map(rows.map((row) => [row.id, row]));
    const first = byId.get(r.executionIds[0]!)!;
    const second = byId.get(r.executionIds[1]!)!;
    expect(first).toMatchObject({
      channel: 'slack',
      tenantId: 'T1',
      userId: 'U1',
      agent: 'ask',
      intent: 'ask',
      args: { question: 'why?' },
      destination: null,
      routeId: null,
    });
    expect(first.conversationId).toBe(r.conversationId);
    expect(first.receivedAt.toISOString()).toBe(e.receivedAt);
    expect(first.envelope).toMatchObject({ deliveryId: e.deliveryId, text: 'ask why?' });
    expect(second).toMatchObject({ agent: 'summarize', intent: 'summarize', destination, messageId: first.messageId });
    expect(second.routeId).toEqual(expect.any(String));
    const [message] = await opened.handle.db.select().from(messages).where(eq(messages.id, first.messageId!));
    expect(message).toMatchObject({
      conversationId: r.conversationId,
      role: 'user',
      userId: 'U1',
      userName: 'ann',
      text: 'ask why?',
      executionId: r.executionIds[0],
    });
    // Both keys are rows; the executions hang off the content key's.
    const keys = await opened.handle.db
      .select()
      .from(deliveries)
      .where(inArray(deliveries.deliveryId, [e.deliveryId, e.contentKey!]));
    expect(keys.map((k) => k.deliveryId).sort()).toEqual([e.deliveryId, e.contentKey!].sort());
    expect(first.deliveryId).toBe(keys.find((k) => k.deliveryId === e.contentKey)!.id);
    const [conversation] = await opened.handle.db.select().from(conversations).where(eq(conversations.id, r.conversationId));
    expect(conversation).toMatchObject({ channel: 'slack', conversationKey: e.conversationKey, tenantId: 'T1' });
    // Each execution has its job waiting.
    expect(await opened.store.queue.claim(r.executionIds[0]!)).toBe(true);
    expect(await opened.store.queue.claim(r.executionIds[1]!)).toBe(true);
  });

  it('answers a redelivery, under its delivery id or its signed content, with what the first stored', async () => {
    const e = envelope({ contentKey: `sha256:${randomUUID()}` });
    const r = stored((await batch([{ envelope: e, targets: [ask, ask] }]))[0]);
    const same = { executionId: r.executionId, executionIds: r.executionIds, conversationId: r.conversationId, duplicate: true };
    expect(await batch([{ envelope: e, targets: [ask] }])).toEqual([same]);
    // The same signed content under a new delivery id: a duplicate, and the new id is not kept.
    const replay = { ...e, deliveryId: `d-${randomUUID()}` };
    expect(await batch([{ envelope: replay, targets: [ask] }])).toEqual([same]);
    expect(await opened.handle.db.select().from(deliveries).where(eq(deliveries.deliveryId, replay.deliveryId))).toEqual([]);
    // So that delivery id alone, with other content, is new.
    stored((await batch([{ envelope: { ...replay, contentKey: undefined }, targets: [ask] }]))[0]);
    // The same ids on another channel are another delivery.
    stored((await batch([{ envelope: { ...e, channel: 'telegram' }, targets: [ask] }]))[0]);
  });

  it('inside one batch, stores the first item naming a key and answers the others as its duplicates, in order', async () => {
    const e = envelope();
    const other = envelope();
    const outcomes = await batch([
      { envelope: e, targets: [ask] },
      { envelope: other, targets: [ask] },
      { envelope: { ...e, text: 'again' }, targets: [ask] },
    ]);
    const first = stored(outcomes[0]);
    stored(outcomes[1]);
    expect(outcomes[2]).toEqual({ executionId: first.executionId, executionIds: first.executionIds, conversationId: first.conversationId, duplicate: true });
    expect(outcomes[1]).not.toMatchObject({ executionId: first.executionId });
  });

  it('asks for the batch item by item when an item lost a key to another that was then undone', async () => {
    const earlier = envelope({ contentKey: `sha256:${randomUUID()}` });
    stored((await batch([{ envelope: earlier, targets: [ask] }]))[0]);
    // The first item takes delivery X, but its content is a duplicate, so X is given back; the second wanted X too.
    const x = `d-${randomUUID()}`;
    const lost = batch([
      { envelope: envelope({ deliveryId: x, contentKey: earlier.contentKey }), targets: [ask] },
      { envelope: envelope({ deliveryId: x }), targets: [ask] },
    ]);
    await expect(lost).rejects.toBeInstanceOf(StoreSingly);
    expect(await opened.handle.db.select().from(deliveries).where(eq(deliveries.deliveryId, x))).toEqual([]);
    // Item by item, the second is stored.
    stored((await batch([{ envelope: envelope({ deliveryId: x }), targets: [ask] }]))[0]);
    // The same when the second also has a content key of its own.
    const x2 = `d-${randomUUID()}`;
    await expect(
      batch([
        { envelope: envelope({ deliveryId: x2, contentKey: earlier.contentKey }), targets: [ask] },
        { envelope: envelope({ deliveryId: x2, contentKey: `sha256:${randomUUID()}` }), targets: [ask] },
      ]),
    ).rejects.toBeInstanceOf(StoreSingly);
  });

  it('stores a batch at once when the keys given back are nobody else’s', async () => {
    const earlier = envelope({ contentKey: `sha256:${randomUUID()}` });
    stored((await batch([{ envelope: earlier, targets: [ask] }]))[0]);
    const e = envelope();
    const outcomes = await batch([
      { envelope: e, targets: [ask] },
      { envelope: e, targets: [ask] },
      { envelope: envelope({ contentKey: earlier.contentKey }), targets: [ask] },
    ]);
    expect(outcomes.map((o) => (o as IngestResult).duplicate)).toEqual([false, true, true]);
  });

  it('stores every tenant under its own plain key, whichever tenants already hold it (keys are opaque text a source chooses)', async () => {
    const key = `taken-${randomUUID()}`;
    // T3 holds the key; T4 holds the key naming T5 that an older version gave T5 instead.
    const t3 = stored((await batch([{ envelope: envelope({ conversationKey: key, tenantId: 'T3' }), targets: [ask] }]))[0]);
    const t4 = stored((await batch([{ envelope: envelope({ conversationKey: `T5/${key}`, tenantId: 'T4' }), targets: [ask] }]))[0]);
    const e = envelope({ conversationKey: key, tenantId: 'T5' });
    const t5 = stored((await batch([{ envelope: e, targets: [ask] }]))[0]);
    expect(new Set([t3.conversationId, t4.conversationId, t5.conversationId]).size).toBe(3);
    const [own] = await opened.handle.db.select().from(conversations).where(eq(conversations.id, t5.conversationId));
    expect(own).toMatchObject({ channel: 'slack', conversationKey: key, tenantId: 'T5' });
    const [message] = await opened.handle.db.select().from(messages).where(eq(messages.conversationId, t5.conversationId));
    expect(message).toMatchObject({ text: e.text });
  });

  it('gives each tenant its own conversation under a key another tenant holds, and one per key within a tenant, in any order', async () => {
    const key = `shared-${randomUUID()}`;
    const [a, b] = await batch([
      { envelope: envelope({ conversationKey: key, tenantId: 'T1' }), targets: [ask] },
      { envelope: envelope({ conversationKey: key, tenantId: 'T1' }), targets: [ask] },
    ]);
    expect(stored(a).conversationId).toBe(stored(b).conversationId);
    const [c] = await batch([{ envelope: envelope({ conversationKey: key, tenantId: 'T2' }), targets: [ask] }]);
    expect(stored(c).conversationId).not.toBe(stored(a).conversationId);
    const rows = await opened.handle.db.select().from(conversations).where(eq(conversations.conversationKey, key));
    expect(rows.map((r) => [r.id, r.tenantId, r.channel]).sort()).toEqual(
      [
        [stored(a).conversationId, 'T1', 'slack'],
        [stored(c).conversationId, 'T2', 'slack'],
      ].sort(),
    );
    // Later batches find both again, both tenants in one batch, in either order.
    for (const order of [
      ['T2', 'T1'],
      ['T1', 'T2'],
    ]) {
      const outcomes = await batch(order.map((tenantId) => ({ envelope: envelope({ conversationKey: key, tenantId }), targets: [ask] })));
      expect(outcomes.map((o) => stored(o).conversationId)).toEqual(order.map((t) => (t === 'T1' ? stored(a) : stored(c)).conversationId));
    }
    // Tenants new to a key in one batch get one conversation each under that key, whichever comes first.
    for (const order of [
      ['T1', 'T2', 'T1'],
      ['T2', 'T1', 'T2'],
    ]) {
      const fresh = `fresh-${randomUUID()}`;
      const [x, y, z] = await batch(order.map((tenantId) => ({ envelope: envelope({ conversationKey: fresh, tenantId }), targets: [ask] })));
      expect(stored(x).conversationId).not.toBe(stored(y).conversationId);
      expect(stored(z).conversationId).toBe(stored(x).conversationId);
      const made = await opened.handle.db.select().from(conversations).where(eq(conversations.conversationKey, fresh));
      expect(Object.fromEntries(made.map((r) => [r.tenantId, r.id]))).toEqual({ [order[0]!]: stored(x).conversationId, [order[1]!]: stored(y).conversationId });
    }
    // The same key on another channel is another conversation.
    const [elsewhere] = await batch([{ envelope: envelope({ channel: 'telegram', conversationKey: key, tenantId: 'T1' }), targets: [ask] }]);
    expect(stored(elsewhere).conversationId).not.toBe(stored(a).conversationId);
  });

  it('keeps the order messages came in when they are stored together, as history reads them', async () => {
    // One transaction: every message shares created_at, so only their ids can order them.
    const conversationKey = `T1:C1:${randomUUID()}`;
    const texts = Array.from({ length: 12 }, (_, i) => `message ${i + 1}`);
    await batch(texts.map((text) => ({ envelope: envelope({ conversationKey, text }), targets: [ask] })));
    const [conversation] = await opened.handle.db.select().from(conversations).where(eq(conversations.conversationKey, conversationKey));
    const rows = await opened.handle.db
      .select({ text: messages.text, at: messages.createdAt })
      .from(messages)
      .where(eq(messages.conversationId, conversation!.id))
      .orderBy(messages.createdAt, messages.id);
    expect(new Set(rows.map((r) => r.at.getTime())).size).toBe(1);
    expect(rows.map((r) => r.text)).toEqual(texts);
  });

  it('refuses an item whose sender used up the quota, counting earlier executions and those of the batch', async () => {
    const user = `U-${randomUUID()}`;
    const since = new Date(Date.now() - 3_600_000);
    const quota = { limit: 2, since, windowSeconds: 3600 };
    const first = stored((await batch([{ envelope: envelope({ userId: user }), targets: [ask] }]))[0]);
    const [oldest] = await opened.handle.db.select().from(executions).where(eq(executions.id, first.executionId));
    // One stored; two targets in the batch fill the quota, so the item after them is refused.
    const refusedId = `d-${randomUUID()}`;
    const outcomes = await batch([
      { envelope: envelope({ userId: user }), targets: [ask], quota },
      { envelope: envelope({ userId: user, deliveryId: refusedId }), targets: [ask], quota },
      // Another person, and the same person on another channel, have their own counts.
      { envelope: envelope({ userId: `${user}-other` }), targets: [ask], quota },
      { envelope: envelope({ userId: user, channel: 'telegram' }), targets: [ask], quota },
    ]);
    stored(outcomes[0]);
    expect(outcomes[1]).toEqual({ overQuota: { resetAt: new Date(oldest!.createdAt.getTime() + 3_600_000), limit: 2 } });
    stored(outcomes[2]);
    stored(outcomes[3]);
    // Nothing of the refused item stays: the same delivery is stored once the quota allows it.
    expect(await opened.handle.db.select().from(deliveries).where(eq(deliveries.deliveryId, refusedId))).toEqual([]);
    stored((await batch([{ envelope: envelope({ userId: user, deliveryId: refusedId }), targets: [ask] }]))[0]);
    // Executions before `since` do not count; an item without a quota is never refused.
    const later = { limit: 1, since: new Date(Date.now() + 60_000), windowSeconds: 60 };
    stored((await batch([{ envelope: envelope({ userId: user }), targets: [ask], quota: later }]))[0]);
  });

  it('counts the items of one batch against the quota when the sender has nothing stored, resetting a window after the first', async () => {
    const user = `U-${randomUUID()}`;
    const quota = { limit: 1, since: new Date(Date.now() - 3_600_000), windowSeconds: 600 };
    const before = Date.now();
    const outcomes = await batch([
      { envelope: envelope({ userId: user }), targets: [ask], quota },
      { envelope: envelope({ userId: user }), targets: [ask], quota },
    ]);
    stored(outcomes[0]);
    const refused = outcomes[1] as OverQuota;
    expect(refused.overQuota.limit).toBe(1);
    // The window runs from about now (the first item's execution), not from `since`.
    expect(refused.overQuota.resetAt.getTime()).toBeGreaterThanOrEqual(before + 600_000);
    // A duplicate is never counted nor refused.
    const dup = envelope({ userId: `U-${randomUUID()}` });
    stored((await batch([{ envelope: dup, targets: [ask] }]))[0]);
    expect(await batch([{ envelope: dup, targets: [ask], quota: { limit: 0, since: quota.since, windowSeconds: 60 } }])).toEqual([
      expect.objectContaining({ duplicate: true }),
    ]);
  });

  it('counts each person from the earliest start of the quotas in the batch', async () => {
    const user = `U-${randomUUID()}`;
    stored((await batch([{ envelope: envelope({ userId: user }), targets: [ask] }]))[0]);
    const outcomes = await batch([
      { envelope: envelope({ userId: user }), targets: [ask], quota: { limit: 1, since: new Date(Date.now() - 3_600_000), windowSeconds: 3600 } },
      { envelope: envelope({ userId: `${user}-b` }), targets: [ask], quota: { limit: 1, since: new Date(Date.now() + 60_000), windowSeconds: 3600 } },
    ]);
    expect(outcomes[0]).toMatchObject({ overQuota: { limit: 1 } });
    stored(outcomes[1]);
  });

  it('refuses from the start of the window when the quota is zero and nothing is stored', async () => {
    const since = new Date(Date.now() - 1000);
    const [outcome] = await batch([{ envelope: envelope({ userId: `U-${randomUUID()}` }), targets: [ask], quota: { limit: 0, since, windowSeconds: 60 } }]);
    expect(outcome).toEqual({ overQuota: { resetAt: new Date(since.getTime() + 60_000), limit: 0 } });
  });
});

/** The database handle with a count of the statements and transactions begun on it (not those inside a transaction). */
function counted(db: Db) {
  const calls = { execute: 0, transaction: 0 };
  const wrapped = new Proxy(db, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (name !== 'execute' && name !== 'transaction') return typeof value === 'function' ? value.bind(target) : value;
      return (...args: unknown[]) => {
        calls[name]++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { calls, db: wrapped };
}

describe('the common batch in one statement', () => {
  const hourly = () => ({ limit: 60, since: new Date(Date.now() - 3_600_000), windowSeconds: 3600 });

  it('stores a batch of new envelopes with one statement and no transaction of its own, a quota adding one around it', async () => {
    const plain = counted(opened.handle.db);
    const outcomes = await ingestBatch(plain.db, opened.store.queue, [
      { envelope: envelope(), targets: [ask] },
      { envelope: envelope({ contentKey: `sha256:${randomUUID()}` }), targets: [ask, ask] },
    ]);
    expect(plain.calls).toEqual({ execute: 1, transaction: 0 });
    expect(outcomes.map((o) => (o as IngestResult).executionIds.length)).toEqual([1, 2]);
    const quota = counted(opened.handle.db);
    stored((await ingestBatch(quota.db, opened.store.queue, [{ envelope: envelope({ userId: `U-${randomUUID()}` }), targets: [ask], quota: hourly() }]))[0]);
    expect(quota.calls).toEqual({ execute: 0, transaction: 1 });
  });

  it('writes nothing at once when an item is a duplicate, then stores the rest step by step', async () => {
    const earlier = envelope();
    stored((await batch([{ envelope: earlier, targets: [ask] }]))[0]);
    const fresh = envelope({ conversationKey: `T1:C1:${randomUUID()}` });
    const steps = counted(opened.handle.db);
    const outcomes = await ingestBatch(steps.db, opened.store.queue, [
      { envelope: fresh, targets: [ask] },
      { envelope: { ...earlier }, targets: [ask] },
    ]);
    expect(steps.calls.transaction).toBe(1);
    expect(outcomes.map((o) => (o as IngestResult).duplicate)).toEqual([false, true]);
    // The fresh item's delivery and conversation are there once: the statement that failed left nothing behind.
    expect(await opened.handle.db.select().from(deliveries).where(eq(deliveries.deliveryId, fresh.deliveryId))).toHaveLength(1);
    expect(await opened.handle.db.select().from(conversations).where(eq(conversations.conversationKey, fresh.conversationKey))).toHaveLength(1);
  });

  it('writes nothing at once for a sender over the quota, whose refusal then leaves no conversation', async () => {
    const user = `U-${randomUUID()}`;
    const key = `T1:C1:${randomUUID()}`;
    const outcomes = await batch([
      { envelope: envelope({ userId: user }), targets: [ask], quota: { ...hourly(), limit: 1 } },
      { envelope: envelope({ userId: user, conversationKey: key }), targets: [ask], quota: { ...hourly(), limit: 1 } },
    ]);
    stored(outcomes[0]);
    expect(outcomes[1]).toMatchObject({ overQuota: { limit: 1 } });
    expect(await opened.handle.db.select().from(conversations).where(eq(conversations.conversationKey, key))).toEqual([]);
  });

  it('refuses at once, writing nothing, two items that name one key', async () => {
    const e = envelope();
    const twice = storeAtOnce(opened.handle.db, opened.store.queue, [
      { envelope: e, targets: [ask] },
      { envelope: { ...e, conversationKey: `T1:C1:${randomUUID()}` }, targets: [ask] },
    ]);
    await expect(twice).rejects.toSatisfy(needsSteps);
    expect(await opened.handle.db.select().from(deliveries).where(eq(deliveries.deliveryId, e.deliveryId))).toEqual([]);
    expect(await opened.handle.db.select().from(conversations).where(eq(conversations.conversationKey, e.conversationKey))).toEqual([]);
  });

  it('queues jobs at once that are the rows pg-boss’s own insert writes', async () => {
    const [atOnce] = await batch([{ envelope: envelope(), targets: [ask] }]);
    const e = envelope();
    // A key named twice sends the batch step by step, where pg-boss inserts the job itself.
    const [stepByStep] = await batch([
      { envelope: e, targets: [ask] },
      { envelope: e, targets: [ask] },
    ]);
    const job = async (executionId: string) => {
      const rows = await opened.handle.db.execute(sql`
        select name, priority, state, retry_limit, retry_delay, retry_backoff, retry_delay_max, expire_seconds, deletion_seconds,
          policy, dead_letter, heartbeat_seconds, singleton_key, singleton_on, group_id, blocked, pending_dependencies, data,
          keep_until - start_after as kept, start_after <= now() as startable
        from pgboss.job where data->>'executionId' = ${executionId}`);
      const found = (Array.isArray(rows) ? rows : (rows as { rows: unknown[] }).rows) as Record<string, unknown>[];
      expect(found).toHaveLength(1);
      return { ...found[0], data: undefined };
    };
    const first = await job(stored(atOnce).executionId);
    expect(first).toMatchObject({ name: 'executions', state: 'created', dead_letter: 'executions-dead', startable: true });
    expect(first).toEqual(await job(stored(stepByStep).executionId));
  });
});

describe('when the one statement gives up', () => {
  it('sends a batch whose items name one key straight to the step-by-step path, with the same outcome', async () => {
    const e = envelope({ contentKey: `sha256:${randomUUID()}` });
    const steps = counted(opened.handle.db);
    const outcomes = await ingestBatch(steps.db, opened.store.queue, [
      { envelope: e, targets: [ask] },
      { envelope: envelope(), targets: [ask] },
      // Another delivery id with the first item's signed content.
      { envelope: { ...e, deliveryId: `d-${randomUUID()}` }, targets: [ask] },
    ]);
    expect(steps.calls).toEqual({ execute: 0, transaction: 1 });
    const first = stored(outcomes[0]);
    stored(outcomes[1]);
    expect(outcomes[2]).toEqual({ ...first, duplicate: true });
  });

  it('does not store step by step a batch whose one statement failed for another reason, and says why', async () => {
    const steps = counted(opened.handle.db);
    // A rule id that is no uuid: the database refuses the statement itself.
    const broken = ingestBatch(steps.db, opened.store.queue, [{ envelope: envelope(), targets: [{ ...ask, ruleId: 'not-a-uuid' }] }]);
    await expect(broken).rejects.toThrow(/not-a-uuid/);
    await expect(broken).rejects.not.toSatisfy(needsSteps);
    expect(steps.calls).toEqual({ execute: 1, transaction: 0 });
  });

  it('tells the give-up mark from any other failure, whatever was thrown', () => {
    expect(needsSteps(new Error('switchboard: this batch is stored step by step'))).toBe(true);
    // drizzle's own message lists the query's parameters, the mark among them, whatever failed: its cause tells.
    const failedQuery = new Error('Failed query: with … params: …,switchboard: this batch is stored step by step', { cause: new Error('deadlock detected') });
    for (const thrown of [undefined, null, 'switchboard: this batch is stored step by step', new Error('deadlock detected'), {}, failedQuery]) {
      expect(needsSteps(thrown)).toBe(false);
    }
  });
});

describe('pg-boss’s job insert as a part of the one statement', () => {
  it('is refused, and so is the batch, when the queue notifies (pg-boss then wraps its insert in a WITH)', async () => {
    const { boss } = opened.store.queue;
    await boss.updateQueue('executions', { notify: true });
    try {
      await expect(opened.store.queue.insertStatement([{ executionId: randomUUID() }])).rejects.toThrow(
        /not a plain INSERT with one parameter; keep the queue's notify off/,
      );
      const e = envelope();
      await expect(batch([{ envelope: e, targets: [ask] }])).rejects.toThrow(/keep the queue's notify off/);
      expect(await opened.handle.db.select().from(deliveries).where(eq(deliveries.deliveryId, e.deliveryId))).toEqual([]);
    } finally {
      await boss.updateQueue('executions', { notify: false });
    }
    const built = await opened.store.queue.insertStatement([{ executionId: randomUUID() }]);
    expect(built.text).toMatch(/^\s*INSERT\b/i);
  });
});
