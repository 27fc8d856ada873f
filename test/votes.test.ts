/**
 * Where a vote counts (src/pipeline/votes.ts), against the real store on one embedded database per file: in the
 * conversation the rated answer was given, where a routing rule delivered it, or anywhere for an admin; a bare "+1"
 * rates the latest rateable answer of the voter's own conversation. Fast on purpose: `npm run mutate` runs these once
 * per mutant.
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbeddedStore } from './support/databases.ts';
import { executions, feedback } from '../db/schema.ts';
import { recordVote, type Voter } from '../src/pipeline/votes.ts';
import type { Destination } from '../src/ports.ts';
import type { Envelope } from '../src/types.ts';

let opened: Awaited<ReturnType<typeof openEmbeddedStore>>;
let seq = 0;

beforeAll(async () => {
  opened = await openEmbeddedStore('votes');
}, 120_000);

afterAll(async () => {
  await opened?.remove();
});

type Answer = { executionId: string; conversationId: string; conversationKey: string };

/** Stores a message in `conversationKey` (Slack, tenant T1 unless said) and answers it, optionally through a routing rule's destination. */
async function answered(
  opts: { conversationKey?: string; tenantId?: string; destination?: Destination; rateable?: boolean; finishedAt?: Date } = {},
): Promise<Answer> {
  const conversationKey = opts.conversationKey ?? `T1:C1:${++seq}`;
  const envelope = {
    channel: 'slack',
    deliveryId: `d-${randomUUID()}`,
    tenantId: opts.tenantId ?? 'T1',
    conversationKey,
    userId: 'U1',
    text: 'ask something',
    replyRef: {},
    receivedAt: new Date().toISOString(),
  } as Envelope;
  const result = await opened.store.ingest(envelope, [
    { agent: 'ask', intent: { name: 'ask', args: {} }, ...(opts.destination ? { destination: opts.destination } : {}) },
  ]);
  if (!('executionId' in result)) throw new Error('not stored');
  await opened.handle.db
    .update(executions)
    .set({
      status: 'succeeded',
      replyMessageId: randomUUID(),
      result: { feedback: opts.rateable ?? true },
      finishedAt: opts.finishedAt ?? new Date(),
    })
    .where(eq(executions.id, result.executionId));
  return { executionId: result.executionId, conversationId: result.conversationId, conversationKey };
}

const voter = (over: Partial<Voter> = {}): Voter => ({ userId: 'U2', channel: 'slack', tenantId: 'T1', admin: false, ...over });

describe('recording a vote', () => {
  it('counts in the conversation the answer was given, named by its id or by its key, and stores it', async () => {
    const a = await answered();
    const byId = await recordVote(opened.store, { executionId: a.executionId, score: 1, voter: voter({ conversationId: a.conversationId }) });
    expect(byId).toEqual({ recorded: true, executionId: a.executionId, score: 1, feedbackId: expect.any(String) });
    const byKey = await recordVote(opened.store, { executionId: a.executionId, score: -1, voter: voter({ userId: 'U3', conversationKey: a.conversationKey }) });
    expect(byKey).toMatchObject({ recorded: true, score: -1 });
    const rows = await opened.handle.db.select().from(feedback).where(eq(feedback.executionId, a.executionId));
    expect(rows.map((r) => [r.userId, r.channel, r.score]).sort()).toEqual([
      ['U2', 'slack', 1],
      ['U3', 'slack', -1],
    ]);
    // Voting again changes the vote.
    const again = await recordVote(opened.store, { executionId: a.executionId, score: -1, voter: voter({ conversationId: a.conversationId }) });
    expect(again).toMatchObject({ recorded: true, feedbackId: (byId as { feedbackId: string }).feedbackId });
  });

  it('does not count elsewhere: another conversation, channel or tenant, or a key that is not the answer’s', async () => {
    const a = await answered();
    const b = await answered();
    const vote = (v: Voter) => recordVote(opened.store, { executionId: a.executionId, score: 1, voter: v });
    const notHere = { recorded: false, reason: 'not-here' };
    expect(await vote(voter({ conversationId: b.conversationId }))).toEqual(notHere);
    // The conversation id decides when there is one, whatever the key says.
    expect(await vote(voter({ conversationId: b.conversationId, conversationKey: a.conversationKey }))).toEqual(notHere);
    expect(await vote(voter({ conversationKey: b.conversationKey }))).toEqual(notHere);
    expect(await vote(voter())).toEqual(notHere);
    expect(await vote(voter({ channel: 'telegram', conversationId: a.conversationId }))).toEqual(notHere);
    expect(await vote(voter({ tenantId: 'T2', conversationId: a.conversationId }))).toEqual(notHere);
    expect(await opened.handle.db.select().from(feedback).where(eq(feedback.executionId, a.executionId))).toEqual([]);
  });

  it('counts in a conversation whose key another tenant also uses, named by its id, its key, or a bare +1', async () => {
    const key = `shared:${++seq}`;
    // T1 took the key first.
    const theirs = await answered({ conversationKey: key });
    const mine = await answered({ conversationKey: key, tenantId: 'T2' });
    expect(mine.conversationId).not.toBe(theirs.conversationId);
    const inT2 = (v: Partial<Voter>) => voter({ tenantId: 'T2', ...v });
    expect(await recordVote(opened.store, { executionId: mine.executionId, score: 1, voter: inT2({ conversationKey: key }) })).toMatchObject({
      recorded: true,
      executionId: mine.executionId,
    });
    expect(await recordVote(opened.store, { score: 1, voter: inT2({ userId: 'U3', conversationId: mine.conversationId }) })).toMatchObject({
      recorded: true,
      executionId: mine.executionId,
    });
    // The other tenant's answer under the same key is not here.
    expect(await recordVote(opened.store, { executionId: theirs.executionId, score: 1, voter: inT2({ conversationKey: key }) })).toEqual({
      recorded: false,
      reason: 'not-here',
    });
    const rows = await opened.handle.db.select().from(feedback).where(eq(feedback.executionId, mine.executionId));
    expect(rows.map((r) => [r.userId, r.score]).sort()).toEqual([
      ['U2', 1],
      ['U3', 1],
    ]);
  });

  it('lets an admin rate any answer', async () => {
    const a = await answered();
    expect(
      await recordVote(opened.store, { executionId: a.executionId, score: 1, voter: voter({ channel: 'web', tenantId: 'x', admin: true }) }),
    ).toMatchObject({
      recorded: true,
      executionId: a.executionId,
    });
  });

  it('counts where a routing rule delivered the answer: that channel and target, the target read without its spaces', async () => {
    const a = await answered({ destination: { channel: 'telegram', target: ' -100 ' } });
    const vote = (v: Partial<Voter>) =>
      recordVote(opened.store, { executionId: a.executionId, score: 1, voter: voter({ channel: 'telegram', tenantId: '-100', ...v }) });
    expect(await vote({ address: '-100' })).toMatchObject({ recorded: true });
    expect(await vote({ address: '-101' })).toEqual({ recorded: false, reason: 'not-here' });
    expect(await vote({})).toEqual({ recorded: false, reason: 'not-here' });
    expect(await vote({ channel: 'slack', address: '-100' })).toEqual({ recorded: false, reason: 'not-here' });
    // Without a destination, an address alone is nowhere.
    const plain = await answered();
    expect(await recordVote(opened.store, { executionId: plain.executionId, score: 1, voter: voter({ address: 'C1' }) })).toEqual({
      recorded: false,
      reason: 'not-here',
    });
  });

  it('finds the execution whatever the case of its id, and nothing for an id that is no UUID or names nothing', async () => {
    const a = await answered();
    const upper = await recordVote(opened.store, { executionId: a.executionId.toUpperCase(), score: 1, voter: voter({ conversationId: a.conversationId }) });
    expect(upper).toMatchObject({ recorded: true, executionId: a.executionId });
    const none = { recorded: false, reason: 'no-execution' };
    for (const id of [randomUUID(), `${a.executionId}x`, `x${a.executionId}`, 'exec-1', '']) {
      expect(await recordVote(opened.store, { executionId: id, score: 1, voter: voter({ admin: true }) }), id).toEqual(none);
    }
  });

  it('rates the latest rateable answer of the voter’s own conversation when the vote names none', async () => {
    const key = `T1:C1:${++seq}`;
    const first = await answered({ conversationKey: key, finishedAt: new Date(Date.now() - 60_000) });
    const latest = await answered({ conversationKey: key });
    await answered({ conversationKey: key, rateable: false });
    const outcome = await recordVote(opened.store, { score: -1, voter: voter({ conversationId: first.conversationId }) });
    expect(outcome).toMatchObject({ recorded: true, executionId: latest.executionId, score: -1 });
    expect(await recordVote(opened.store, { score: 1, voter: voter({ conversationKey: key }) })).toEqual({ recorded: false, reason: 'no-execution' });
    const empty = await opened.store.ingest(
      {
        channel: 'slack',
        deliveryId: `d-${randomUUID()}`,
        tenantId: 'T1',
        conversationKey: `T1:C9:${++seq}`,
        userId: 'U1',
        text: 'x',
        replyRef: {},
        receivedAt: new Date().toISOString(),
      } as Envelope,
      [{ agent: 'ask', intent: { name: 'ask', args: {} } }],
    );
    expect(await recordVote(opened.store, { score: 1, voter: voter({ conversationId: (empty as { conversationId: string }).conversationId }) })).toEqual({
      recorded: false,
      reason: 'no-execution',
    });
  });
});
