/** Group commit (db/group-commit.ts): concurrent ingests share one transaction and stay exactly-once. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGroupCommit } from '../db/group-commit.ts';
import type { IngestResult, OverQuota } from '../db/index.ts';
import type { Envelope } from '../src/types.ts';
import { databaseKinds } from './support/databases.ts';
import { startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';

describe('a group commit', () => {
  it('writes concurrent items as one batch and answers each with its own outcome', async () => {
    const batches: number[][] = [];
    const write = createGroupCommit<number, number>({
      maxItems: 64,
      maxWaitMs: 1,
      write: async (items) => (batches.push(items), items.map((n) => n * 10)),
      retrySingly: () => true,
    });
    expect(await Promise.all([1, 2, 3].map(write))).toEqual([10, 20, 30]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('with no wait, writes what arrived in one turn of the event loop as one batch, and a later item apart', async () => {
    const batches: number[][] = [];
    const write = createGroupCommit<number, number>({
      maxItems: 64,
      maxWaitMs: 0,
      write: async (items) => (batches.push(items), items),
      retrySingly: () => true,
    });
    const together = [1, 2, 3].map(write);
    await new Promise((resolve) => setImmediate(resolve));
    await Promise.all([...together, write(4)]);
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  it('writes a failed batch again item by item, so only the bad item fails', async () => {
    const batches: number[][] = [];
    const write = createGroupCommit<number, number>({
      maxItems: 2,
      maxWaitMs: 1,
      write: async (items) => {
        batches.push(items);
        if (items.includes(13)) throw new Error('bad item');
        return items;
      },
      retrySingly: () => true,
    });
    const outcomes = await Promise.allSettled([12, 13].map(write));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected']);
    expect(batches).toEqual([[12, 13], [12], [13]]);
  });

  it('does not retry item by item what retrySingly refuses (the database is down)', async () => {
    let writes = 0;
    const write = createGroupCommit<number, number>({
      maxItems: 64,
      maxWaitMs: 1,
      write: async () => {
        writes++;
        throw new Error('down');
      },
      retrySingly: () => false,
    });
    const outcomes = await Promise.allSettled([1, 2].map(write));
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(writes).toBe(1);
  });
});

describe.each(databaseKinds)('group commit of ingests on %s', (kind) => {
  let sb: TestSwitchboard;
  beforeAll(async () => {
    sb = await startTestSwitchboard(kind);
  });
  afterAll(async () => sb?.close());

  const help = [{ agent: 'help', intent: { name: 'help' as const, args: {} } }];
  const envelope = (deliveryId: string, extra: Partial<Envelope> = {}): Envelope =>
    ({
      channel: 'hooks',
      deliveryId,
      tenantId: 'hook:batch',
      conversationKey: 'batch',
      userId: 'u',
      text: 'help',
      receivedAt: new Date().toISOString(),
      ...extra,
    }) as Envelope;
  const stored = (r: IngestResult | OverQuota) => r as IngestResult;

  it('duplicates inside one batch and across batches store one execution each', async () => {
    const inOne = (
      await Promise.all([
        sb.opened.store.ingest(envelope(`dup-${kind}`), help),
        sb.opened.store.ingest(envelope(`dup-${kind}`), help),
        sb.opened.store.ingest(envelope(`other-${kind}`), help),
        // The same content under a new delivery id is a duplicate too.
        sb.opened.store.ingest(envelope(`c1-${kind}`, { contentKey: `content-${kind}` }), help),
        sb.opened.store.ingest(envelope(`c2-${kind}`, { contentKey: `content-${kind}` }), help),
      ])
    ).map(stored);
    expect(inOne.map((r) => r.duplicate)).toEqual([false, true, false, false, true]);
    expect(inOne[1]!.executionId).toBe(inOne[0]!.executionId);
    expect(inOne[4]!.executionId).toBe(inOne[3]!.executionId);
    const again = stored(await sb.opened.store.ingest(envelope(`dup-${kind}`), help));
    expect(again).toMatchObject({ duplicate: true, executionId: inOne[0]!.executionId });
    const ids = new Set(inOne.map((r) => r.executionId));
    expect(ids.size).toBe(3);
  });
});
