/**
 * One authentic event through the receive step (src/pipeline/receive.ts) with the real ingest, access policy and
 * store on one embedded database per file, and a test double of the channel's receiver port: what the platform is
 * answered when an event is stored, a duplicate, ignored or refused, and who is told why. Fast on purpose:
 * `npm run mutate` runs these once per mutant.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbeddedStore } from './support/databases.ts';
import { plainIngest } from './support/ingest.ts';
import type { Ingest } from '../src/pipeline/ingest.ts';
import { createReceive } from '../src/pipeline/receive.ts';
import type { ChannelReceiver, Logger, RawRequest } from '../src/ports.ts';
import type { Envelope } from '../src/types.ts';

let opened: Awaited<ReturnType<typeof openEmbeddedStore>>;
let ingest: Ingest;

beforeAll(async () => {
  opened = await openEmbeddedStore('receive');
  // Slack admits U1 only and tells anyone else how to be allowed; GitHub refuses non-members without a word.
  ingest = plainIngest(opened.store, ['help', 'ask', 'summarize', 'review', 'status', 'feedback'], {
    slack: { mode: 'allowlist', allow: ['U1'], admins: [] },
    github: { mode: 'collaborators', allow: [], admins: [] },
  });
}, 120_000);

afterAll(async () => {
  await opened?.remove();
});

const envelope = (userId: string, channel = 'slack', deliveryId = randomUUID()): Envelope =>
  ({
    channel,
    deliveryId,
    tenantId: 'T1',
    conversationKey: `T1:${deliveryId}`,
    userId,
    text: 'ask how do we deploy?',
    facts: { person: userId, places: ['T1'] },
    replyRef: {},
    receivedAt: new Date().toISOString(),
  }) as Envelope;

/** The request the double's normalize reads: the envelopes (or what to ignore) as JSON. */
const request = (what: Envelope[] | { ignore: string }): RawRequest => ({
  body: new TextEncoder().encode(JSON.stringify(what)),
  headers: new Headers(),
  url: 'http://localhost/x',
  params: {},
});

type Told = { envelope: Envelope; answer: string; how: string };

/** A receiver double: normalize parses the request; `refuse`, `ack` and `ackIgnored` only when given. */
function receiver(extra: Partial<ChannelReceiver> = {}) {
  const told: Told[] = [];
  const adapter: ChannelReceiver = {
    channel: 'slack',
    normalize: (req) => JSON.parse(new TextDecoder().decode(req.body)),
    ...extra,
  } as ChannelReceiver;
  return { adapter, told };
}

const telling = (told: Told[], response?: Response) => ({
  async refuse(envelope: Envelope, answer: string, how: 'respond' | 'send') {
    told.push({ envelope, answer, how });
    return response;
  },
});

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('receiving an event', () => {
  it('answers an ignored event with what the channel expects, else with the reason', async () => {
    const plain = createReceive(receiver().adapter, ingest);
    const res = await plain(request({ ignore: 'a delivery receipt' }), 'respond');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, ignored: 'a delivery receipt' });
    const twiml = createReceive(receiver({ ackIgnored: (reason) => new Response(`<Response>${reason}</Response>`) }).adapter, ingest);
    expect(await (await twiml(request({ ignore: 'x' }), 'respond')).text()).toBe('<Response>x</Response>');
    const silent = createReceive(receiver({ ackIgnored: () => undefined }).adapter, ingest);
    expect(await (await silent(request({ ignore: 'y' }), 'respond')).json()).toEqual({ ok: true, ignored: 'y' });
  });

  it('answers 202 with every execution of a stored event, and 200 with the same executions for its duplicate', async () => {
    const receive = createReceive(receiver().adapter, ingest);
    const e = envelope('U1');
    const first = await receive(request([e]), 'respond');
    expect(first.status).toBe(202);
    const body = (await first.json()) as { ok: boolean; duplicate: boolean; executions: { id: string; duplicate: boolean }[] };
    expect(body).toEqual({ ok: true, duplicate: false, executions: [{ id: expect.any(String), duplicate: false }] });
    const again = await receive(request([e]), 'respond');
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ ok: true, duplicate: true, executions: [{ id: body.executions[0]!.id, duplicate: true }] });
    // One new among duplicates is no duplicate.
    const mixed = await receive(request([e, envelope('U1')]), 'respond');
    expect(mixed.status).toBe(202);
    expect(((await mixed.json()) as { executions: unknown[] }).executions).toHaveLength(2);
  });

  it('lets the channel acknowledge what was stored, with the admitted envelopes and their results only', async () => {
    const acked: unknown[] = [];
    const told: Told[] = [];
    const { adapter } = receiver({
      ...telling(told),
      ack: (envelopes, results) => (acked.push({ users: envelopes.map((x) => x.userId), results }), new Response('ok', { status: 200 })),
    });
    const receive = createReceive(adapter, ingest);
    const res = await receive(request([envelope('U2'), envelope('U1')]), 'respond');
    expect(await res.text()).toBe('ok');
    expect(acked).toEqual([{ users: ['U1'], results: [expect.objectContaining({ duplicate: false, executionId: expect.any(String) })] }]);
    // The refused one of a mixed request is told directly.
    await settle();
    expect(told).toEqual([{ envelope: expect.objectContaining({ userId: 'U2' }), answer: expect.stringContaining('access allow slack U2'), how: 'send' }]);
    const declined = createReceive(receiver({ ack: () => undefined }).adapter, ingest);
    expect((await declined(request([envelope('U1')]), 'respond')).status).toBe(202);
  });

  it('answers a refused event in place when the transport can carry it', async () => {
    const told: Told[] = [];
    const receive = createReceive(receiver(telling(told, new Response('ephemeral', { status: 200 }))).adapter, ingest);
    const res = await receive(request([envelope('U2')]), 'respond');
    expect(await res.text()).toBe('ephemeral');
    expect(told).toEqual([{ envelope: expect.objectContaining({ userId: 'U2' }), answer: expect.stringContaining('access allow slack U2'), how: 'respond' }]);
  });

  it('acknowledges a refused event as ignored when the answer went some other way, or there is none', async () => {
    const told: Told[] = [];
    const quiet = createReceive(receiver(telling(told)).adapter, ingest);
    const res = await quiet(request([envelope('U2')]), 'respond');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, refused: 'not_allowed' });
    expect(told.map((t) => t.how)).toEqual(['respond']);
    const acking = createReceive(receiver({ ...telling([]), ackIgnored: (reason) => new Response(reason) }).adapter, ingest);
    expect(await (await acking(request([envelope('U2')]), 'respond')).text()).toBe('refused: not_allowed');
    // No answer to give (a GitHub non-member): nobody is told, and the first refusal names the reason.
    const github: Told[] = [];
    const gh = createReceive(receiver(telling(github)).adapter, ingest);
    expect(await (await gh(request([envelope('ann', 'github')]), 'respond')).json()).toEqual({ ok: true, refused: 'not_member' });
    expect(github).toEqual([]);
    // Without `refuse`, nobody is told, and the platform still gets its acknowledgement.
    const mute = createReceive(receiver().adapter, ingest);
    expect(await (await mute(request([envelope('U2')]), 'respond')).json()).toEqual({ ok: true, refused: 'not_allowed' });
  });

  it('sends the answer of the first refusal that has one when the transport has no response', async () => {
    const told: Told[] = [];
    const receive = createReceive(receiver(telling(told, new Response('unused'))).adapter, ingest);
    const res = await receive(request([envelope('ann', 'github'), envelope('U3'), envelope('U4')]), 'send');
    expect(await res.json()).toEqual({ ok: true, refused: 'not_member' });
    await settle();
    expect(told).toEqual([{ envelope: expect.objectContaining({ userId: 'U3' }), answer: expect.stringContaining('access allow slack U3'), how: 'send' }]);
  });

  it('tells nobody, and still answers, when the channel cannot tell or there is nothing to tell', async () => {
    // No `refuse`: a refusal with an answer and no response to carry it, alone or among admitted events.
    const mute = createReceive(receiver().adapter, ingest);
    expect(await (await mute(request([envelope('U2')]), 'send')).json()).toEqual({ ok: true, refused: 'not_allowed' });
    expect((await mute(request([envelope('U2'), envelope('U1')]), 'send')).status).toBe(202);
    // Refusals without an answer, sent or among admitted events: `refuse` is never called.
    const told: Told[] = [];
    const receive = createReceive(receiver(telling(told)).adapter, ingest);
    expect(await (await receive(request([envelope('ann', 'github')]), 'send')).json()).toEqual({ ok: true, refused: 'not_member' });
    expect((await receive(request([envelope('ann', 'github'), envelope('U1')]), 'respond')).status).toBe(202);
    await settle();
    expect(told).toEqual([]);
  });

  it('logs, and does not fail, when telling a refused person why fails', async () => {
    const warnings: unknown[][] = [];
    const logger = { warn: (...args: unknown[]) => void warnings.push(args) } as unknown as Logger;
    const { adapter } = receiver({
      refuse: async () => {
        throw new Error('chat not found');
      },
    });
    const receive = createReceive(adapter, ingest, logger);
    expect(await (await receive(request([envelope('U2')]), 'send')).json()).toEqual({ ok: true, refused: 'not_allowed' });
    await settle();
    expect(warnings).toEqual([[{ channel: 'slack', err: 'chat not found' }, 'could not tell a refused slack sender why']]);
    // Without a logger the failure is swallowed all the same.
    const unlogged = createReceive(adapter, ingest);
    expect((await unlogged(request([envelope('U2')]), 'send')).status).toBe(200);
    await settle();
  });
});
