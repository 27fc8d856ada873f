import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FEEDBACK_HINT, MEDIA_NOTICE } from '../channels/whatsapp/index.ts';
import { databaseKinds } from './support/databases.ts';
import { startTestSwitchboard, tableCounts, type TestSwitchboard } from './support/switchboard.ts';
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
import { pipelineIdle, waitFor } from './support/wait.ts';

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
    sb = await startTestSwitchboard(kind, {
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      TWILIO_WHATSAPP_FROM: WHATSAPP_FROM,
      TWILIO_API_URL: fake.apiUrl,
      PUBLIC_URL,
      RATE_LIMIT_BURST: '1000',
    });
  });
  afterAll(async () => {
    await sb?.close();
    await fake?.close();
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
});
