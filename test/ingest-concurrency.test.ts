/**
 * What db/ingest.ts `ingestBatch` promises between concurrent transactions, on PostgreSQL (PGlite is one connection,
 * so nothing there is ever concurrent): two batches sharing delivery keys or conversations in opposite orders never
 * deadlock, one person's messages in two transactions never pass the quota together, and a conversation another
 * transaction created meanwhile is read and used. Each interleaving is forced, not hoped for: a third connection
 * holds rows (or a lock) both batches must wait on, the test waits until PostgreSQL shows both waiting, then lets go.
 * Skipped without DATABASE_URL (CI sets it); `npm run mutate` runs it once per mutant when it is set.
 */
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IngestItem, type IngestResult, ingestBatch, type OverQuota } from '../db/ingest.ts';
import { type OpenedStore, openStore } from '../db/index.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';

const ask = { agent: 'ask', intent: { name: 'ask' as const, args: {} } };

describe.skipIf(!process.env.DATABASE_URL)('concurrent batches on PostgreSQL (needs DATABASE_URL)', () => {
  let database: TestDatabase;
  let opened: OpenedStore;
  /** The third connection: holds what the two batches wait on. */
  let holder: postgres.Sql;
  /** Reads pg_stat_activity outside any transaction (a transaction would keep reading one snapshot of it). */
  let monitor: postgres.Sql;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    opened = await openStore({
      databaseUrl: database.env.DATABASE_URL!,
      dataDir: database.env.DATA_DIR!,
      poolSize: 4,
      queue: { maxAttempts: 3, retryDelaySeconds: 1, jobTimeoutSeconds: 60, supervise: false, onError: () => {} },
    });
    holder = postgres(database.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    monitor = postgres(database.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
  }, 120_000);

  afterAll(async () => {
    await holder?.end();
    await monitor?.end();
    await opened?.close();
    await database?.drop();
  });

  const batch = (items: IngestItem[]) => ingestBatch(opened.handle.db, opened.store.queue, items);

  function envelope(over: { deliveryId?: string; conversationKey?: string; userId?: string } = {}): IngestItem['envelope'] {
    return {
      channel: 'slack',
      deliveryId: over.deliveryId ?? `d-${randomUUID()}`,
      tenantId: 'T1',
      conversationKey: over.conversationKey ?? `c-${randomUUID()}`,
      userId: over.userId ?? 'U1',
      text: 'ask why?',
      replyRef: { kind: 'thread' },
      receivedAt: '2026-01-01T10:00:00.000Z',
    } as IngestItem['envelope'];
  }

  /** Resolves once `count` statements of this database wait on a lock, so every batch started has reached its wait. */
  async function waiting(count: number) {
    for (let tries = 0; tries < 1000; tries++) {
      const [row] = await monitor`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
      if (row!.n >= count) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`never saw ${count} statements waiting on a lock`);
  }

  /**
   * Holds what `hold` writes in an open transaction of the third connection, starts `batches` and waits until each
   * waits on a lock (or one has ended: then the interleaving did not happen, which the caller's checks show), ends
   * the transaction with `end`, and returns each batch's outcomes.
   */
  async function interleaved(hold: (sql: postgres.ReservedSql) => Promise<unknown>, batches: IngestItem[][], end: 'commit' | 'rollback') {
    const sql = await holder.reserve();
    try {
      await sql`begin`;
      await hold(sql);
      const running = batches.map((items) => run(batch(items)));
      // Settled here so a failed batch is reported by the await below, not as unhandled.
      for (const r of running) r.catch(() => {});
      await Promise.race([waiting(batches.length), ...running]);
      await sql.unsafe(end);
      return await Promise.all(running);
    } finally {
      await sql.unsafe('rollback').catch(() => {});
      sql.release();
    }
  }

  const stored = (o: IngestResult | OverQuota | undefined) => {
    expect(o).toMatchObject({ duplicate: false });
    return o as IngestResult;
  };
  const run = async (outcome: Promise<(IngestResult | OverQuota)[]>) => {
    try {
      return await outcome;
    } catch (err) {
      // A deadlock (40P01) names itself here rather than as a timeout elsewhere.
      throw new Error(`batch failed: ${(err as { code?: string }).code ?? ''} ${(err as Error).message}`);
    }
  };

  /**
   * The common batch goes at once (db/ingest-at-once.ts); a batch two of whose items name one key goes step by step
   * from the start (db/ingest.ts): `on(items)` adds two such items (another sender's, no quota) for the second path.
   */
  for (const path of ['at once', 'step by step'] as const) {
    const on = (items: IngestItem[]) => {
      if (path === 'at once') return items;
      const twice = { envelope: envelope({ userId: `U-${randomUUID()}` }), targets: [ask] };
      return [...items, twice, { ...twice }];
    };

    it(`${path}: two batches naming the same deliveries in opposite orders do not deadlock, and each delivery is stored once`, async () => {
      const id = randomUUID();
      const [k1, k2, xa, xb] = [`${id}-k1`, `${id}-k2`, `${id}-xa`, `${id}-xb`];
      // Held rows between the shared keys: unsorted, batch A would take k1 then wait for xa, B take k2 then wait for xb.
      const [fromA, fromB] = await interleaved(
        (sql) => sql`insert into deliveries (channel, delivery_id) values ('slack', ${xa}), ('slack', ${xb})`,
        [
          on([k1, xa, k2].map((deliveryId) => ({ envelope: envelope({ deliveryId }), targets: [ask] }))),
          on([k2, xb, k1].map((deliveryId) => ({ envelope: envelope({ deliveryId }), targets: [ask] }))),
        ],
        'rollback',
      );
      const duplicates = [...fromA.slice(0, 3), ...fromB.slice(0, 3)].filter((o) => (o as IngestResult).duplicate);
      // k1 and k2 are stored by one batch and duplicates in the other; xa and xb each once.
      expect(duplicates).toHaveLength(2);
      const executions =
        await monitor`select d.delivery_id from executions e join deliveries d on d.id = e.delivery_id where d.delivery_id like ${`${id}-%`} order by 1`;
      expect(executions.map((r) => r.delivery_id)).toEqual([k1, k2, xa, xb]);
    });

    it(`${path}: two batches creating the same conversations in opposite orders do not deadlock, and share each one`, async () => {
      const id = randomUUID();
      const [k1, k2, xa, xb] = [`${id}-k1`, `${id}-k2`, `${id}-xa`, `${id}-xb`];
      const [fromA, fromB] = await interleaved(
        (sql) => sql`insert into conversations (channel, tenant_id, conversation_key) values ('slack', 'T1', ${xa}), ('slack', 'T1', ${xb})`,
        [
          on([k1, xa, k2].map((conversationKey) => ({ envelope: envelope({ conversationKey }), targets: [ask] }))),
          on([k2, xb, k1].map((conversationKey) => ({ envelope: envelope({ conversationKey }), targets: [ask] }))),
        ],
        'rollback',
      );
      // The batch that waited for the other's conversations reads them again and uses them.
      expect(stored(fromB[2]).conversationId).toBe(stored(fromA[0]).conversationId);
      expect(stored(fromB[0]).conversationId).toBe(stored(fromA[2]).conversationId);
      const rows = await monitor`select conversation_key from conversations where conversation_key like ${`${id}-%`} order by 1`;
      expect(rows.map((r) => r.conversation_key)).toEqual([k1, k2, xa, xb]);
    });

    it(`${path}: uses a conversation another transaction created between its read and its insert, beside one it creates`, async () => {
      const [raced, fresh] = [`raced-${randomUUID()}`, `fresh-${randomUUID()}`];
      let theirs = '';
      const [[first, second]] = await interleaved(
        async (sql) => {
          [{ id: theirs }] = await sql`insert into conversations (channel, tenant_id, conversation_key) values ('slack', 'T1', ${raced}) returning id`;
        },
        [on([fresh, raced].map((conversationKey) => ({ envelope: envelope({ conversationKey }), targets: [ask] })))],
        'commit',
      );
      expect(stored(second).conversationId).toBe(theirs);
      const [own] = await monitor`select id from conversations where conversation_key = ${fresh}`;
      expect(stored(first).conversationId).toBe(own!.id);
    });

    /** Two transactions, one message each from one person with a quota of 1, both held up by `hold` on their conversation. */
    async function onePersonTwice(hold: (sql: postgres.ReservedSql, conversationKey: string) => Promise<unknown>, conversationKey: string) {
      const user = `U-${randomUUID()}`;
      const quota = { limit: 1, since: new Date(Date.now() - 3_600_000), windowSeconds: 3600 };
      const item = () => ({ envelope: envelope({ userId: user, conversationKey }), targets: [ask], quota });
      const outcomes = (await interleaved((sql) => hold(sql, conversationKey), [on([item()]), on([item()])], 'rollback')).flat();
      expect(outcomes.filter((o) => 'overQuota' in o)).toHaveLength(1);
      const [row] = await monitor`select count(*)::int as n from executions where user_id = ${user}`;
      expect(row!.n).toBe(1);
    }

    it(`${path}: one person’s messages in two concurrent transactions never pass the quota together`, async () => {
      // Both batches write to a conversation the third connection holds, after counting the quota: without the
      // per-person lock both would count nothing, then wait there together.
      await onePersonTwice(
        (sql, key) => sql`insert into conversations (channel, tenant_id, conversation_key) values ('slack', 'T1', ${key})`,
        `c-${randomUUID()}`,
      );
    });

    it(`${path}: one person’s messages never pass the quota together while both wait on their conversation’s row`, async () => {
      // The conversation exists, so neither batch creates it (nothing conflicts, nothing sends it step by step): both
      // count the quota, then their messages' foreign key waits on the row the third connection locks.
      const conversationKey = `c-${randomUUID()}`;
      await monitor`insert into conversations (channel, tenant_id, conversation_key) values ('slack', 'T1', ${conversationKey})`;
      await onePersonTwice(
        (sql, key) => sql`select 1 from conversations where channel = 'slack' and tenant_id = 'T1' and conversation_key = ${key} for update`,
        conversationKey,
      );
    });
  }
});
