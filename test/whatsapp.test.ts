/**
 * WhatsApp end to end: a real in-process Switchboard on each test database, webhooks signed as Twilio signs them
 * (over PUBLIC_URL, not the address the request reached), and the real twilio client talking to the fake Messages
 * API through TWILIO_API_URL.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../db/rows.ts';
import { FEEDBACK_HINT, MEDIA_NOTICE } from '../channels/whatsapp/index.ts';
import { askAgent } from '../src/agents/ask.ts';
import { createAgents } from '../src/agents/index.ts';
import { statusAgent } from '../src/agents/status.ts';
import type { Agent } from '../src/ports.ts';
import { databaseKinds } from './support/databases.ts';
import { signedHook, startTestSwitchboard, tableCounts, type TestSwitchboard } from './support/switchboard.ts';
import {
  ACCOUNT_SID,
  AUTH_TOKEN,
  inboundFields,
  PUBLIC_URL,
  startFakeTwilio,
  WEBHOOK_URL,
  WHATSAPP_FROM,
  whatsappRequest,
  type FakeTwilio,
} from './fakes/twilio-api.ts';
import { createGate, pipelineIdle, waitFor } from './support/wait.ts';

const LONG = Array.from({ length: 8 }, (_, i) => `Step ${i}: ${Array.from({ length: 70 }, (_, j) => `thoroughly${j}`).join(' ')}.`).join('\n\n');

// `status` from GATE_NUMBER waits for the test to open the gate: proves the ack does not wait for the agent.
const GATE_NUMBER = 'whatsapp:+15550000001';
const gate = createGate();
const agents: Agent[] = createAgents().map((agent) => {
  if (agent.name === 'ask') {
    return { ...askAgent, run: async (ctx) => (ctx.envelope.text.startsWith('LONG') ? { text: LONG, feedback: true } : askAgent.run(ctx)) };
  }
  if (agent.name === 'status')
    return { ...statusAgent, run: async (ctx) => (ctx.envelope.userId === GATE_NUMBER && (await gate.pass()), statusAgent.run(ctx)) };
  return agent;
});

let numberSeq = 0;
/** A fresh customer number, so each test reads only its own chat. */
const customer = () => `whatsapp:+3161${String(1_000_000 + ++numberSeq * 7919).slice(-7)}`;

describe.each(databaseKinds)('WhatsApp channel on %s', (kind) => {
  let sb: TestSwitchboard;
  let fake: FakeTwilio;
  const send = (init: RequestInit, path = '/whatsapp/webhook') => sb.app.request(path, init);
  const say = (from: string, body: string, extra: Record<string, string> = {}) => send(whatsappRequest(inboundFields(body, { From: from, ...extra })));
  const execution = async (where: string) => (await sb.api('GET', `/api/executions?channel=whatsapp&${where}&limit=1`)).body.executions[0];
  const finished = (where: string) =>
    waitFor(
      () => execution(where),
      (e) => e?.status === 'succeeded' || e?.status === 'dead',
    );

  beforeAll(async () => {
    fake = await startFakeTwilio();
    sb = await startTestSwitchboard(
      kind,
      {
        TWILIO_ACCOUNT_SID: ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        TWILIO_WHATSAPP_FROM: WHATSAPP_FROM,
        TWILIO_API_URL: fake.apiUrl,
        PUBLIC_URL,
        RATE_LIMIT_BURST: '1000',
      },
      { agents },
    );
  });
  afterAll(async () => {
    await sb?.close();
    await fake?.close();
  });

  it('refuses a forged, tampered, missing or wrongly addressed signature with 401 JSON, storing and sending nothing', async () => {
    const before = await tableCounts(sb);
    const fields = inboundFields('help', { From: customer() });
    const signed = whatsappRequest(fields);
    const requests: RequestInit[] = [
      whatsappRequest(fields, { authToken: '0'.repeat(32) }),
      { ...signed, body: new URLSearchParams({ ...fields, Body: 'status' }).toString() },
      { ...signed, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      // Signed over the address the request reached rather than the public one Twilio knows: not Twilio's signature.
      whatsappRequest(fields, { url: 'http://localhost/whatsapp/webhook' }),
    ];
    for (const init of requests) {
      const res = await send(init);
      expect(res.status).toBe(401);
      expect(((await res.json()) as any).error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    }
    await pipelineIdle(sb);
    expect(await tableCounts(sb)).toEqual(before);
    expect(fake.messages).toEqual([]);
  });

  it('acks with empty TwiML at once and answers through messages.create from TWILIO_WHATSAPP_FROM to the sender', async () => {
    const from = customer();
    const res = await say(from, 'how do we deploy?');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/xml/);
    expect(await res.text()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    const [answer] = await waitFor(
      () => fake.messages.filter((m) => m.to === from),
      (m) => m.length > 0,
    );
    expect(answer).toMatchObject({ from: WHATSAPP_FROM, status: 201 });
    // No buttons on WhatsApp: a rated answer says how to rate it.
    expect(answer!.body.endsWith(FEEDBACK_HINT)).toBe(true);
    expect(await finished('agent=ask')).toMatchObject({ status: 'succeeded', args: { question: 'how do we deploy?' } });
  });

  it('answers a delivery status callback and an SMS with empty TwiML (not JSON, which Twilio logs as error 12300), storing and sending nothing', async () => {
    const before = await tableCounts(sb);
    const to = customer();
    // The fields Twilio posts to a status callback URL for an outbound WhatsApp message.
    const receipt = {
      AccountSid: ACCOUNT_SID,
      ApiVersion: '2010-04-01',
      ChannelInstallSid: 'XE0123456789abcdef0123456789abcdef',
      ChannelPrefix: 'whatsapp',
      ChannelToAddress: to.replace(/^whatsapp:/, ''),
      From: WHATSAPP_FROM,
      MessageSid: 'SM0123456789abcdef0123456789abcdef',
      MessageStatus: 'delivered',
      SmsSid: 'SM0123456789abcdef0123456789abcdef',
      SmsStatus: 'delivered',
      StructuredMessage: 'false',
      To: to,
    };
    const texter = customer().replace(/^whatsapp:/, '');
    const sms = inboundFields('help', { From: texter, To: '+14155238886' });
    for (const fields of [receipt, { ...receipt, MessageStatus: 'read', SmsStatus: 'read' }, sms]) {
      const res = await send(whatsappRequest(fields));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/xml/);
      expect(await res.text()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    }
    await pipelineIdle(sb);
    expect(await tableCounts(sb)).toEqual(before);
    expect(fake.messages.filter((m) => [to, texter, `whatsapp:${texter}`].includes(m.to))).toEqual([]);
  });

  it('validates against PUBLIC_URL with the query string Twilio was given', async () => {
    const from = customer();
    const fields = inboundFields('help', { From: from });
    const res = await send(whatsappRequest(fields, { url: `${WEBHOOK_URL}?tenant=acme` }), '/whatsapp/webhook?tenant=acme');
    expect(res.status).toBe(200);
    await waitFor(
      () => fake.sent(from),
      (m) => m.length > 0,
    );
    expect(fake.sent(from)[0]).toMatch(/summarize/);
  });

  it('acks before the agent has answered', async () => {
    const res = await say(GATE_NUMBER, 'status');
    expect(res.status).toBe(200);
    await waitFor(() => gate.waiting, Boolean);
    expect(fake.sent(GATE_NUMBER)).toEqual([]);
    gate.open();
    const [answer] = await waitFor(
      () => fake.sent(GATE_NUMBER),
      (m) => m.length > 0,
    );
    expect(answer).toMatch(/queue/i);
  });

  it('a retried MessageSid, also in parallel, makes one execution and one reply', async () => {
    const from = customer();
    const before = await tableCounts(sb);
    const init = whatsappRequest(inboundFields('status', { From: from }));
    const responses = await Promise.all(Array.from({ length: 6 }, () => send(init)));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    await waitFor(
      () => fake.sent(from),
      (m) => m.length > 0,
    );
    expect(await (await send(init)).text()).toContain('<Response/>');
    await pipelineIdle(sb);
    expect(fake.sent(from)).toHaveLength(1);
    expect((await tableCounts(sb)).executions).toBe(before.executions + 1);
  });

  it('feeds the chat history to the agents: summarize recalls what was said', async () => {
    const from = customer();
    await say(from, 'The payments deploy failed because the queue consumer ran out of memory.');
    await waitFor(
      () => fake.sent(from),
      (m) => m.length > 0,
    );
    await say(from, 'summarize');
    const replies = await waitFor(
      () => fake.sent(from),
      (m) => m.length > 1,
    );
    expect(replies[1]).toMatch(/memory/i);
  });

  it('"+1" and 👎 rate the previous answer in the chat, one vote per person', async () => {
    const from = customer();
    await say(from, 'where are the deploy logs?');
    await waitFor(
      () => fake.sent(from),
      (m) => m.length > 0,
    );
    const ask = await finished('agent=ask');
    await say(from, '+1');
    await waitFor(
      () => fake.sent(from),
      (m) => m.length > 1,
    );
    expect(fake.sent(from)[1]).toMatch(/recorded 👍/);
    await say(from, '👎');
    await waitFor(
      () => fake.sent(from),
      (m) => m.length > 2,
    );
    expect(fake.sent(from)[2]).toMatch(/recorded 👎/);
    const votes = rowsOf(await sb.opened.handle.db.execute(sql`select user_id, score, channel from feedback where execution_id = ${ask.id}`));
    expect(votes).toEqual([{ user_id: from, score: -1, channel: 'whatsapp' }]);
  });

  it('splits a long answer into messages of at most 1,600 characters, at paragraph breaks, never inside a word', async () => {
    const from = customer();
    await say(from, 'LONG answer please');
    await waitFor(
      () => fake.sent(from),
      (m) => m.at(-1)?.endsWith(FEEDBACK_HINT) ?? false,
    );
    const bodies = fake.sent(from);
    expect(bodies.length).toBeGreaterThan(3);
    for (const body of bodies) {
      expect(body.length).toBeLessThanOrEqual(1600);
      expect(body).toMatch(/^(Step \d+:|thoroughly\d+)/);
    }
    const words = (s: string) => s.split(/\s+/).filter(Boolean);
    expect(words(bodies.join(' '))).toEqual(words(`${LONG}\n\n${FEEDBACK_HINT}`));
  });

  it('answers a media-only message politely that it reads text only for now', async () => {
    const from = customer();
    const res = await say(from, '', { NumMedia: '1', MediaUrl0: 'https://api.twilio.com/media/ME1', MediaContentType0: 'image/jpeg', MessageType: 'image' });
    expect(res.status).toBe(200);
    const [reply] = await waitFor(
      () => fake.sent(from),
      (m) => m.length > 0,
    );
    expect(reply!.startsWith(MEDIA_NOTICE)).toBe(true);
    const done = await finished('agent=ask');
    expect(done).toMatchObject({ status: 'succeeded', args: { media: 1 } });
    expect(done.provider).toBeNull(); // no model was asked about a picture it cannot see
  });

  it("honours a 429's Retry-After: the message is sent again no sooner, and only once", async () => {
    const from = customer();
    fake.rateLimit(1, 1);
    await say(from, 'help');
    const [delivered] = await waitFor(
      () => fake.messages.filter((m) => m.to === from && m.status === 201),
      (m) => m.length > 0,
    );
    const limited = fake.messages.find((m) => m.to === from && m.status === 429)!;
    expect(limited).toBeDefined();
    expect(delivered!.at - limited.at).toBeGreaterThanOrEqual(950);
    await pipelineIdle(sb);
    expect(fake.sent(from)).toHaveLength(1);
  });

  it('delivers a routed webhook event to a WhatsApp number', async () => {
    const route = await sb.api('POST', '/api/routes', { source: 'ci', agent: 'status', destination: { channel: 'whatsapp', target: '+31699999999' } });
    expect(route.status).toBe(201);
    try {
      const res = await sb.app.request('/hooks/ci', signedHook({ type: 'build.failed', text: 'nightly failed' }));
      expect(res.status).toBeLessThan(300);
      const [body] = await waitFor(
        () => fake.sent('whatsapp:+31699999999'),
        (m) => m.length > 0,
      );
      expect(body).toMatch(/queue/i);
    } finally {
      await sb.api('DELETE', `/api/routes/${route.body.id}`);
    }
  });

  it('refuses JSON with 415 and a signed form without MessageSid with 400, storing nothing', async () => {
    const before = await tableCounts(sb);
    const json = await send({ method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(json.status).toBe(415);
    const { MessageSid: _, SmsMessageSid: __, SmsSid: ___, ...fields } = inboundFields('help');
    const res = await send(whatsappRequest(fields));
    expect(res.status).toBe(400);
    expect(await tableCounts(sb)).toEqual(before);
  });

  it('answers 404 naming the Twilio variables and PUBLIC_URL when WhatsApp is not configured', async () => {
    const bare = await startTestSwitchboard(kind, { TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN, TWILIO_WHATSAPP_FROM: WHATSAPP_FROM });
    try {
      const res = await bare.app.request('/whatsapp/webhook', whatsappRequest(inboundFields('help')));
      expect(res.status).toBe(404);
      const body = (await res.json()) as any;
      for (const name of ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_WHATSAPP_FROM', 'PUBLIC_URL']) expect(body.error.message).toContain(name);
    } finally {
      await bare.close();
    }
  });
});
