/** The WhatsApp adapter on its own: Twilio signatures, the fields it reads, and how it writes within WhatsApp's limits. */
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  composeReply,
  createTwilioClient,
  createWhatsAppAdapter,
  createWhatsAppSender,
  FEEDBACK_HINT,
  formParams,
  MEDIA_NOTICE,
  normalizeWhatsApp,
  RedirectingRequestClient,
  signedUrl,
  verifyTwilio,
  WHATSAPP_LIMITS,
  whatsappAddress,
} from '../channels/whatsapp/index.ts';
import { loadConfig } from '../src/config.ts';
import { NormalizeError, VerificationError, type RawRequest } from '../src/ports.ts';
import { splitMessage } from '../src/split.ts';
import type { Envelope } from '../src/types.ts';
import {
  ACCOUNT_SID,
  AUTH_TOKEN,
  CUSTOMER,
  inboundFields,
  PUBLIC_URL,
  startFakeTwilio,
  WHATSAPP_FROM,
  whatsappRequest,
  type FakeTwilio,
} from './fakes/twilio-api.ts';
import { outbound } from './support/outbound.ts';
import { senderContract } from './support/sender-contract.ts';

const NOW = new Date('2025-06-01T12:00:00Z');

function raw(init: RequestInit, url = 'http://127.0.0.1:3000/whatsapp/webhook'): RawRequest {
  return { body: new TextEncoder().encode(init.body as string), headers: new Headers(init.headers), url, params: {} };
}

function verifyCode(req: RawRequest, opts = { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL }): string | undefined {
  try {
    verifyTwilio(req, opts);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(VerificationError);
    return (err as VerificationError).code;
  }
}

describe('Twilio signatures', () => {
  it('are checked against PUBLIC_URL + path (with the query), not the address the request reached', () => {
    const fields = inboundFields('help');
    expect(verifyCode(raw(whatsappRequest(fields)))).toBeUndefined();
    expect(verifyCode(raw(whatsappRequest(fields, { url: 'http://127.0.0.1:3000/whatsapp/webhook' })))).toBe('bad_signature');
    const query = whatsappRequest(fields, { url: `${PUBLIC_URL}/whatsapp/webhook?a=1&b=2` });
    expect(verifyCode(raw(query, 'http://127.0.0.1:3000/whatsapp/webhook?a=1&b=2'))).toBeUndefined();
    expect(verifyCode(raw(query))).toBe('bad_signature');
    expect(signedUrl(`${PUBLIC_URL}/`, { url: 'http://x/whatsapp/webhook?q=1' })).toBe(`${PUBLIC_URL}/whatsapp/webhook?q=1`);
  });

  it('accept Twilio signing the URL with an explicit default port, and a PUBLIC_URL behind a path prefix', () => {
    const fields = inboundFields('help');
    expect(verifyCode(raw(whatsappRequest(fields, { url: 'https://switchboard.example.com:443/whatsapp/webhook' })))).toBeUndefined();
    const prefixed = whatsappRequest(fields, { url: 'https://proxy.example.com/sb/whatsapp/webhook' });
    expect(verifyCode(raw(prefixed), { authToken: AUTH_TOKEN, publicUrl: 'https://proxy.example.com/sb' })).toBeUndefined();
  });

  it('reject a wrong token, a changed field, an added field and a missing header', () => {
    const fields = inboundFields('help');
    expect(verifyCode(raw(whatsappRequest(fields, { authToken: 'x'.repeat(32) })))).toBe('bad_signature');
    const signed = whatsappRequest(fields);
    expect(verifyCode(raw({ ...signed, body: new URLSearchParams({ ...fields, Body: 'status' }).toString() }))).toBe('bad_signature');
    expect(verifyCode(raw({ ...signed, body: `${signed.body}&Extra=1` }))).toBe('bad_signature');
    expect(verifyCode(raw({ ...signed, headers: {} }))).toBe('missing_signature');
    expect(verifyCode(raw(signed), { authToken: '', publicUrl: PUBLIC_URL })).toBe('not_configured');
  });

  it('sign repeated fields the way Twilio does', () => {
    const body = 'MediaUrl=a&MediaUrl=b&Body=hi';
    expect(formParams(new TextEncoder().encode(body))).toEqual({ MediaUrl: ['a', 'b'], Body: 'hi' });
    const signature = twilio.getExpectedTwilioSignature(AUTH_TOKEN, `${PUBLIC_URL}/whatsapp/webhook`, { MediaUrl: ['a', 'b'], Body: 'hi' });
    expect(verifyCode(raw({ body, headers: { 'x-twilio-signature': signature } }))).toBeUndefined();
  });
});

describe('the WhatsApp adapter', () => {
  const whatsapp = (env: Record<string, string>) => loadConfig({ DATA_DIR: '/tmp/unused', ...env }).whatsapp;
  const full = { TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN, TWILIO_WHATSAPP_FROM: WHATSAPP_FROM, PUBLIC_URL };

  it('is off without PUBLIC_URL, which signatures are checked against, and names it', () => {
    const { PUBLIC_URL: _, ...rest } = full;
    const adapter = createWhatsAppAdapter(whatsapp(rest), undefined);
    expect(adapter.enabled).toBe(false);
    expect(adapter.requiredEnv).toContain('PUBLIC_URL');
    expect(createWhatsAppAdapter(whatsapp(full), PUBLIC_URL).enabled).toBe(true);
  });

  it('refuses to start with a sender that is not a phone number, or an account SID that is not one, naming the variable', () => {
    expect(() => createWhatsAppAdapter(whatsapp({ ...full, TWILIO_WHATSAPP_FROM: 'my-number' }), PUBLIC_URL)).toThrow(
      /TWILIO_WHATSAPP_FROM.*international format/,
    );
    expect(() => createWhatsAppAdapter(whatsapp({ ...full, TWILIO_ACCOUNT_SID: 'SK0123' }), PUBLIC_URL)).toThrow(/TWILIO_ACCOUNT_SID/);
  });
});

describe('Twilio webhooks → envelopes', () => {
  const normalize = (fields: Record<string, string>) => normalizeWhatsApp(raw(whatsappRequest(fields)), { now: () => NOW });

  it('a message becomes an envelope in the chat of the two numbers, answered to the sender', () => {
    const fields = inboundFields('  how do we deploy?  ', { MessageSid: 'SM0001', ProfileName: 'Alice' });
    expect(normalize(fields)).toEqual([
      expect.objectContaining({
        channel: 'whatsapp',
        deliveryId: 'SM0001',
        conversationKey: '+14155238886:+31612345678',
        tenantId: '+14155238886:+31612345678',
        userId: CUSTOMER,
        userName: 'Alice',
        text: 'how do we deploy?',
        replyRef: { kind: 'message', to: CUSTOMER },
        receivedAt: NOW.toISOString(),
      }),
    ]);
  });

  it('marks a message without text (media, a location) so the answer says we read text only', () => {
    const [envelope] = normalize(inboundFields('', { NumMedia: '2' })) as Envelope[];
    expect(envelope).toMatchObject({ text: '', args: { media: 2 }, replyRef: { mediaOnly: true } });
  });

  it('ignores delivery status callbacks and messages that did not come through WhatsApp', () => {
    expect(normalize({ ...inboundFields('hi'), MessageStatus: 'delivered' })).toEqual({ ignore: expect.any(String) });
    expect(normalize(inboundFields('hi', { From: '+31612345678' }))).toEqual({ ignore: expect.any(String) });
  });

  it('refuses a form without MessageSid, From or To', () => {
    const { From: _, ...fields } = inboundFields('hi');
    expect(() => normalize(fields)).toThrow(NormalizeError);
  });
});

describe('writing within WhatsApp limits', () => {
  const splitText = (text: string) => splitMessage(text, { limit: WHATSAPP_LIMITS.maxLength });
  const words = (s: string) => s.split(/\s+/).filter(Boolean);

  it('never cuts inside a word and keeps every body within 1,600 characters', () => {
    let seed = 3;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 30; round++) {
      const text = Array.from(
        { length: 200 + Math.floor(next() * 800) },
        () => `${'y'.repeat(1 + Math.floor(next() * 12))}${next() < 0.1 ? '\n\n' : ' '}`,
      ).join('');
      const parts = splitText(text);
      for (const part of parts) expect(part.length).toBeLessThanOrEqual(1600);
      expect(words(parts.join(' '))).toEqual(words(text));
    }
    expect(splitText('👍'.repeat(1000)).join('')).toBe('👍'.repeat(1000));
  });

  it('leads with the text-only note, ends with how to rate, and writes **bold** as WhatsApp *bold*', () => {
    expect(composeReply({ text: 'Ask me **anything**.' }, { mediaOnly: true })).toBe(`${MEDIA_NOTICE}\n\nAsk me *anything*.`);
    expect(composeReply({ text: 'An answer.', feedback: true })).toBe(`An answer.\n\n${FEEDBACK_HINT}`);
  });

  it('reads destinations as WhatsApp numbers', () => {
    expect(whatsappAddress('+31 6 1234 5678')).toBe('whatsapp:+31612345678');
    expect(whatsappAddress('whatsapp:+14155238886')).toBe('whatsapp:+14155238886');
    expect(() => whatsappAddress('C0123')).toThrow(/international format/);
  });

  it('redirects the SDK to TWILIO_API_URL, and only Twilio hosts', () => {
    const client = new RedirectingRequestClient('http://127.0.0.1:9/twilio/');
    expect(client.redirect('https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json')).toBe(
      'http://127.0.0.1:9/twilio/2010-04-01/Accounts/AC1/Messages.json',
    );
    expect(client.redirect('https://api.dublin.ie1.twilio.com/2010-04-01/x?y=1')).toBe('http://127.0.0.1:9/twilio/2010-04-01/x?y=1');
    expect(client.redirect('https://example.com/a')).toBe('https://example.com/a');
    expect(new RedirectingRequestClient('https://api.twilio.com').redirect('https://api.twilio.com/a')).toBe('https://api.twilio.com/a');
  });
});

/** The WhatsApp sender behind the outbound step, as the worker runs it. */
const whatsappSender = (fake: FakeTwilio, from = WHATSAPP_FROM, authToken = AUTH_TOKEN) =>
  outbound({
    channel: 'whatsapp',
    limits: WHATSAPP_LIMITS,
    compose: (reply) => composeReply(reply),
    ...createWhatsAppSender({ client: createTwilioClient({ accountSid: ACCOUNT_SID, authToken, apiUrl: fake.apiUrl }), from }),
  });
const numberEnvelope = (to: string): Envelope => ({
  channel: 'whatsapp',
  deliveryId: 'SM1',
  tenantId: 't',
  conversationKey: 'k',
  userId: to,
  text: 'q',
  receivedAt: NOW.toISOString(),
  replyRef: { kind: 'message', to },
});

let senderFake: FakeTwilio;
senderContract({
  name: 'WhatsApp',
  async start() {
    senderFake = await startFakeTwilio();
    return { sender: whatsappSender(senderFake), close: () => senderFake.close() };
  },
  envelope: (n) => numberEnvelope(`whatsapp:+3160000000${n}`),
  sent: (n) => senderFake.sent(`whatsapp:+3160000000${n}`),
  rateLimit: (seconds, after = 0) => senderFake.rateLimit(1, seconds, after),
  wordsPerMessage: 250,
});

describe('the WhatsApp sender, through the real twilio client', () => {
  let fake: FakeTwilio;
  beforeAll(async () => {
    fake = await startFakeTwilio();
  });
  afterAll(async () => {
    await fake?.close();
  });
  const sender = (from = WHATSAPP_FROM, authToken = AUTH_TOKEN) => whatsappSender(fake, from, authToken);
  const envelope = numberEnvelope;

  it('says what to fix when Twilio refuses: a wrong sender, bad credentials', async () => {
    await expect(sender('whatsapp:+10000000000').reply(envelope(CUSTOMER), { text: 'hi' }, { executionId: 'e4' })).rejects.toThrow(
      /63007.*TWILIO_WHATSAPP_FROM/,
    );
    await expect(sender(WHATSAPP_FROM, 'nope').reply(envelope(CUSTOMER), { text: 'hi' }, { executionId: 'e5' })).rejects.toThrow(/20003.*TWILIO_AUTH_TOKEN/);
  });
});
