/** WhatsApp (Twilio) through the channel contract every platform adapter passes. */
import { channelContract } from './support/channel-contract.ts';
import { ACCOUNT_SID, AUTH_TOKEN, inboundFields, PUBLIC_URL, startFakeTwilio, WHATSAPP_FROM, whatsappRequest, type FakeTwilio } from './fakes/twilio-api.ts';

let fake: FakeTwilio | undefined;

channelContract({
  name: 'WhatsApp',
  route: '/whatsapp/webhook',
  env: (fakeUrl) => ({
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    TWILIO_WHATSAPP_FROM: WHATSAPP_FROM,
    TWILIO_API_URL: fakeUrl,
    PUBLIC_URL,
  }),
  requiredEnv: ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_WHATSAPP_FROM', 'PUBLIC_URL'],
  async startFake() {
    const started = await startFakeTwilio();
    fake = started;
    return { url: started.apiUrl, close: () => started.close() };
  },
  // The contract's delivery id becomes the MessageSid, the key Twilio repeats on a retry.
  message: (id, text) => whatsappRequest(inboundFields(text, { MessageSid: `SM${Buffer.from(id).toString('hex')}` })),
  // The body changed after signing: Twilio's signature covers every field.
  tamper: (init) => ({ ...init, body: `${init.body as string}&Tampered=1` }),
  sent: () => fake?.sent() ?? [],
  chat: true,
});
