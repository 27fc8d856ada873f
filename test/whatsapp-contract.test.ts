/** WhatsApp (Twilio) through the channel contract every platform adapter passes. */
import { expect } from 'vitest';
import { channelContract } from './support/channel-contract.ts';
import { ACCOUNT_SID, AUTH_TOKEN, inboundFields, PUBLIC_URL, startFakeTwilio, WHATSAPP_FROM, whatsappRequest, type FakeTwilio } from './fakes/twilio-api.ts';

let fake: FakeTwilio | undefined;
const TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>';
// The contract's delivery id becomes the MessageSid, the key Twilio repeats on a retry; its person, a number.
const numberOf = (user: string) => `whatsapp:+3162${String(Buffer.from(user).reduce((n, b) => (n * 31 + b) % 10_000_000, 7)).padStart(7, '0')}`;
const fields = (id: string, text: string, user?: string) =>
  inboundFields(text, { MessageSid: `SM${Buffer.from(id).toString('hex')}`, ...(user ? { From: numberOf(user) } : {}) });

channelContract({
  name: 'WhatsApp',
  channel: 'whatsapp',
  route: '/whatsapp/webhook',
  env: (fakeUrl) => ({
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    TWILIO_WHATSAPP_FROM: WHATSAPP_FROM,
    TWILIO_API_URL: fakeUrl,
    PUBLIC_URL,
  }),
  requiredEnv: ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_WHATSAPP_FROM', 'PUBLIC_URL'],
  // Everything but PUBLIC_URL, which signatures are checked against: still off.
  partialEnv: { TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN, TWILIO_WHATSAPP_FROM: WHATSAPP_FROM },
  async startFake() {
    const started = await startFakeTwilio();
    fake = started;
    return { url: started.apiUrl, close: () => started.close() };
  },
  message: (id, text, user) => whatsappRequest(fields(id, text, user)),
  // Twilio reads the answer as TwiML: empty, whether the delivery is new or a retry.
  async acked(res) {
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/xml/);
    expect(await res.text()).toBe(TWIML_EMPTY);
  },
  forgeries(id, text) {
    const signed = fields(id, text);
    const request = whatsappRequest(signed);
    return [
      whatsappRequest(signed, { authToken: '0'.repeat(32) }),
      // A field changed, or one added, after signing: Twilio's signature covers every field.
      { ...request, body: new URLSearchParams({ ...signed, Body: 'status' }).toString() },
      { ...request, body: `${request.body as string}&Tampered=1` },
      { ...request, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      // Signed over the address the request reached rather than the public one Twilio knows: not Twilio's signature.
      whatsappRequest(signed, { url: 'http://localhost/whatsapp/webhook' }),
    ].map((request) => ({ request }));
  },
  sent: () => fake?.sent() ?? [],
  calls: () => fake?.messages.length ?? 0,
  destination: { target: '+31699999999', sentTo: (target) => fake?.sent(`whatsapp:${target}`) ?? [] },
  rateLimits: { next: (seconds) => fake!.rateLimit(1, seconds), attempts: () => (fake?.messages ?? []).map(({ status, at }) => ({ status, at })) },
  userId: numberOf,
  messageLimit: 1600,
  // The refusal is the TwiML answer's message; a pending person's answer is empty TwiML.
  pairing: {
    async code(res) {
      expect(res.headers.get('content-type')).toMatch(/^text\/xml/);
      const body = await res.text();
      if (body === TWIML_EMPTY) return undefined;
      expect(body).toMatch(/<Response><Message>To talk to this bot, ask an admin to run `npx switchboard access approve [A-Z2-9-]{7}`/);
      return /approve ([A-Z2-9]{4}-[A-Z2-9]{2})/.exec(body)?.[1];
    },
    subject: (user) => numberOf(user).replace(/^whatsapp:/, ''),
  },
  chat: true,
  conversation: true,
});
