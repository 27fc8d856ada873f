/** Twilio's WhatsApp inbound message webhook (form fields) → an envelope. */
import { NormalizeError } from '../../src/ports.ts';
import type { RawRequest } from '../../src/ports.ts';
import type { Envelope } from '../../src/types.ts';
import { formParams } from './verify.ts';

/** Where a reply goes; stored with the envelope, so it is plain JSON. */
export type WhatsAppReplyRef = {
  kind: 'message';
  /** The sender, `whatsapp:+<number>`: who the answer goes to. */
  to: string;
  /** A message without text (media, a location, a contact): the answer starts by saying that we read text only. */
  mediaOnly?: boolean;
};

export type NormalizeOptions = { now(): Date };

const field = (params: Record<string, string | string[]>, name: string): string | undefined => {
  const value = params[name];
  return Array.isArray(value) ? value[0] : value;
};

/** `whatsapp:+31612345678` → `+31612345678`. */
export const bareNumber = (address: string) => address.replace(/^whatsapp:/i, '');

/** One WhatsApp chat is a pair of numbers: ours and theirs. */
export function conversationKey(ours: string, theirs: string): string {
  return `${bareNumber(ours)}:${bareNumber(theirs)}`;
}

export function normalizeWhatsApp(req: RawRequest, opts: NormalizeOptions): Envelope[] | { ignore: string } {
  const params = formParams(req.body);
  // Delivery receipts, if the status callback points here too, are not messages.
  const status = field(params, 'MessageStatus');
  if (status) return { ignore: `a delivery status callback (${status})` };
  const sid = field(params, 'MessageSid');
  const from = field(params, 'From');
  const to = field(params, 'To');
  if (!sid || !from || !to) throw new NormalizeError('invalid_request', 'a Twilio message webhook carries MessageSid, From and To');
  if (!/^whatsapp:/i.test(from)) return { ignore: 'a message that did not come through WhatsApp' };

  const body = (field(params, 'Body') ?? '').trim();
  const media = Number(field(params, 'NumMedia') ?? '0') || 0;
  // Media, a location or a contact card: nothing an agent can read.
  const mediaOnly = body === '';
  const key = conversationKey(to, from);
  const profile = field(params, 'ProfileName');
  return [
    {
      channel: 'whatsapp',
      // Twilio's retries (and a fallback URL) repeat the MessageSid, so the pipeline stores the message once.
      deliveryId: sid,
      // A WhatsApp chat is one person: the chat is the unit budgets and reports group by.
      tenantId: key,
      conversationKey: key,
      userId: from,
      ...(profile ? { userName: profile } : {}),
      // Media we cannot read arrives as an empty message, which the agents answer with a prompt to type;
      // the reply then leads with the "text only for now" note.
      text: body,
      ...(mediaOnly ? { args: { media } } : {}),
      // A WhatsApp chat is one person, named by their number as operators write it (E.164).
      facts: { person: bareNumber(from), places: [] },
      threadRef: { from: bareNumber(from), to: bareNumber(to) },
      replyRef: { kind: 'message', to: from, ...(mediaOnly ? { mediaOnly } : {}) } satisfies WhatsAppReplyRef,
      receivedAt: opts.now().toISOString(),
      raw: params,
    },
  ];
}
