/** The `whatsapp` channel: Twilio's WhatsApp inbound webhook at `POST /whatsapp/webhook`, answered through the Messages API. */
import type { Config } from '../../src/config.ts';
import type { ChannelAdapter } from '../../src/ports.ts';
import { WHATSAPP_PROFILE } from './profile.ts';
import { normalizeWhatsApp, type WhatsAppReplyRef } from './normalize.ts';
import { composeReply, createTwilioClient, createWhatsAppSender, replyAddress, WHATSAPP_LIMITS, whatsappAddress } from './reply.ts';
import { verifyTwilio } from './verify.ts';

export { bareNumber, conversationKey, normalizeWhatsApp } from './normalize.ts';
export type { WhatsAppReplyRef } from './normalize.ts';
export {
  composeReply,
  createTwilioClient,
  createWhatsAppSender,
  FEEDBACK_HINT,
  MEDIA_NOTICE,
  MESSAGE_CHARS,
  RedirectingRequestClient,
  WHATSAPP_LIMITS,
  whatsappAddress,
} from './reply.ts';
export { formParams, signedUrl, verifyTwilio, WEBHOOK_PATH } from './verify.ts';

/** Twilio reads the webhook's answer as TwiML: an empty Response sends nothing, the reply follows through the API. */
export const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

const twiml = (body: string) =>
  new Response(`<?xml version="1.0" encoding="UTF-8"?>${body}`, { status: 200, headers: { 'content-type': 'text/xml; charset=utf-8' } });
/** Anything but TwiML (JSON included) is logged by Twilio as error 12300, so every answer is this one. */
const emptyTwiml = () => twiml('<Response/>');

const escapeXml = (text: string) => text.replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** Undefined when `target` is a number messages.create can send to, else what to write instead. */
export function validateWhatsAppTarget(target: string): string | undefined {
  try {
    whatsappAddress(target);
    return undefined;
  } catch {
    return `"${target}" is not a WhatsApp number: use the international (E.164) format, + then country code and number, e.g. +31612345678 or whatsapp:+31612345678`;
  }
}

export type WhatsAppAdapterOptions = {
  now?: () => Date;
};

export function createWhatsAppAdapter(config: Config['whatsapp'], publicUrl: string | undefined, opts: WhatsAppAdapterOptions = {}): ChannelAdapter {
  const now = opts.now ?? (() => new Date());
  if (!config.enabled) {
    const disabled = (): never => {
      throw new Error(`the whatsapp channel is disabled: set ${config.requiredEnv.join(', ')}`);
    };
    return {
      ...WHATSAPP_PROFILE,
      requiredEnv: config.requiredEnv,
      enabled: false,
      verify: disabled,
      normalize: disabled,
      postTo: disabled,
    };
  }
  // Settings Twilio would only refuse later, one message at a time: refuse them at start, saying which.
  if (!/^AC[0-9a-f]{32}$/i.test(config.accountSid!)) {
    throw new Error('TWILIO_ACCOUNT_SID must be AC followed by 32 hex characters (Twilio Console → Account Info)');
  }
  let from: string;
  try {
    from = whatsappAddress(config.from!);
  } catch (err) {
    throw new Error(`TWILIO_WHATSAPP_FROM: ${(err as Error).message}`);
  }
  const client = createTwilioClient(config);
  const sender = createWhatsAppSender({ client, from });
  return {
    ...WHATSAPP_PROFILE,
    requiredEnv: config.requiredEnv,
    enabled: true,
    // Twilio posts form fields and reads the answer as TwiML (the ack).
    accepts: ['application/x-www-form-urlencoded'],
    verify: (req) => verifyTwilio(req, { authToken: config.authToken, publicUrl }),
    normalize: (req) => normalizeWhatsApp(req, { now }),
    // Stored (or a duplicate): acknowledge at once; the answer goes out through messages.create when it is ready.
    ack: emptyTwiml,
    // Delivery receipts and non-WhatsApp messages too: Twilio wants TwiML, and an empty Response sends nothing.
    ackIgnored: emptyTwiml,
    async refuse(envelope, text, how) {
      const to = (envelope.replyRef as WhatsAppReplyRef).to;
      // TwiML's <Message> in the webhook's answer: Twilio sends it, and we make no API call.
      if (how === 'respond') return twiml(`<Response><Message>${escapeXml(text)}</Message></Response>`);
      await client.messages.create({ from, to, body: text });
      return undefined;
    },
    limits: WHATSAPP_LIMITS,
    // A message without text is answered with the text-only note first; a routed post has no such message.
    compose: (reply, to) => composeReply(reply, { mediaOnly: 'envelope' in to && replyAddress(to.envelope).mediaOnly === true }),
    send: sender.send,
    postTo: sender.postTo,
    validateTarget: validateWhatsAppTarget,
  };
}
