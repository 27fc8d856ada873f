/**
 * Migration 0008: a conversation is unique per (channel, tenant, key). A database an older release wrote, where a
 * tenant whose key another tenant held was given `<tenant>/<key>`, is migrated when Switchboard starts on it: such a
 * conversation takes its plain key back, so the tenant's next event continues its history; nothing else is renamed.
 * On embedded PGlite (a DATA_DIR made before, which is migrated instead of seeded) and on PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../db/index.ts';
import { rowsOf } from '../db/rows.ts';
import { createTestDatabase, databaseKinds } from './support/databases.ts';
import { writeAsOlderRelease } from './support/older-release.ts';

const BEFORE = 8; // migrations 0000-0007: the release before conversation keys per tenant

type Row = { channel: string; tenant_id: string; conversation_key: string };

// What the older release stored: [channel, tenant, key as stored, what the key must be after the migration].
const OLD: [string, string, string, string][] = [
  // T2's key was held by T1: T2 fell back to `T2/k1`, and takes `k1` back.
  ['slack', 'T1', 'k1', 'k1'],
  ['slack', 'T2', 'T2/k1', 'k1'],
  // A tenant id with punctuation, as hook sources have.
  ['hooks', 'hook:a', 'k2', 'k2'],
  ['hooks', 'hook:b/c', 'hook:b/c/k2', 'k2'],
  // A key that only looks like a fallback: nobody else holds `k3` on this channel (T1 does on another).
  ['slack', 'T3', 'T3/k3', 'T3/k3'],
  ['telegram', 'T1', 'k3', 'k3'],
  // A key naming another tenant is that tenant's own text: T5's `T6/k4` stays.
  ['slack', 'T4', 'k4', 'k4'],
  ['slack', 'T5', 'T6/k4', 'T6/k4'],
];

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe.each(databaseKinds)('migrating conversation keys to one per tenant on %s', (kind) => {
  it('gives a conversation stored under a key naming its tenant its plain key back, and its next event continues it', { timeout: 120_000 }, async () => {
    const database = await createTestDatabase(kind);
    cleanups.push(() => database.drop());
    const insert = `insert into conversations (channel, tenant_id, conversation_key) values ${OLD.map((_, i) => `($${3 * i + 1}, $${3 * i + 2}, $${3 * i + 3})`).join(', ')}`;
    // The older release's database, with its conversations and one message in T2's.
    await writeAsOlderRelease(database, BEFORE, [
      { text: insert, params: OLD.flatMap((row) => row.slice(0, 3)) },
      {
        text: `insert into messages (conversation_id, role, user_id, text) select id, 'user', 'U1', 'earlier' from conversations where conversation_key = 'T2/k1'`,
      },
    ]);

    // Switchboard starts on it: the migrations it lacks are applied.
    const opened = await openStore({
      dataDir: database.env.DATA_DIR!,
      ...(database.env.DATABASE_URL ? { databaseUrl: database.env.DATABASE_URL } : {}),
      queue: { maxAttempts: 3, retryDelaySeconds: 1, jobTimeoutSeconds: 60, supervise: false, onError: () => {} },
    });
    cleanups.push(() => opened.close());
    const rows = rowsOf<Row>(await opened.handle.db.execute(sql`select channel, tenant_id, conversation_key from conversations order by channel, tenant_id`));
    const after = rows.map((r) => [r.channel, r.tenant_id, r.conversation_key]);
    expect(after).toEqual(
      OLD.map(([channel, tenant, , key]) => [channel, tenant, key]).sort((a, b) => (`${a[0]}\u0000${a[1]}` < `${b[0]}\u0000${b[1]}` ? -1 : 1)),
    );

    // T2's next event, under the key its platform sends, lands in the conversation it had, after the earlier message.
    const result = await opened.store.ingest(
      {
        channel: 'slack',
        deliveryId: `d-${randomUUID()}`,
        tenantId: 'T2',
        conversationKey: 'k1',
        userId: 'U1',
        text: 'later',
        receivedAt: new Date().toISOString(),
      } as never,
      [{ agent: 'ask', intent: { name: 'ask', args: {} } }],
    );
    if (!('conversationId' in result)) throw new Error('not stored');
    const conversation = await opened.store.getConversation(result.conversationId);
    expect(conversation).toMatchObject({ tenantId: 'T2', conversationKey: 'k1' });
    expect(conversation!.messages.map((m) => m.text)).toEqual(['earlier', 'later']);
  });
});
