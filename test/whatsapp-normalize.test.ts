/**
 * WhatsApp's request → envelope step (channels/whatsapp/normalize.ts), field by field and refusal by refusal: the cases a one-character slip
 * (a dropped fallback, a `&&` for `||`, a message no one reads) would get past the channel tests. Real-shaped payloads go
 * straight into the normalize function. Fast on purpose: `npm run mutate` runs these once per mutant.
 */
import { describe, expect, it } from 'vitest';
import { bareNumber, conversationKey as whatsappKey, normalizeWhatsApp } from '../channels/whatsapp/normalize.ts';
import { CUSTOMER, inboundFields, WHATSAPP_FROM, whatsappRequest } from './fakes/twilio-api.ts';
import { NOW, one, raw, refusal } from './support/normalize.ts';

describe('WhatsApp normalize, field by field', () => {
  const normalize = (fields: Record<string, string>) => normalizeWhatsApp(raw(whatsappRequest(fields)), { now: () => NOW });

  it('names a chat by both bare numbers', () => {
    expect(bareNumber('WhatsApp:+31612345678')).toBe('+31612345678');
    expect(bareNumber('+1 whatsapp:')).toBe('+1 whatsapp:');
    expect(whatsappKey('whatsapp:+1', 'whatsapp:+2')).toBe('+1:+2');
  });

  it('builds the envelope of a text message', () => {
    const fields = inboundFields('  hello there ', { MessageSid: 'SM1' });
    expect(one(normalize(fields))).toEqual({
      channel: 'whatsapp',
      deliveryId: 'SM1',
      tenantId: `${bareNumber(WHATSAPP_FROM)}:${bareNumber(CUSTOMER)}`,
      conversationKey: `${bareNumber(WHATSAPP_FROM)}:${bareNumber(CUSTOMER)}`,
      userId: CUSTOMER,
      userName: 'Alice',
      text: 'hello there',
      facts: { person: bareNumber(CUSTOMER), places: [] },
      threadRef: { from: bareNumber(CUSTOMER), to: bareNumber(WHATSAPP_FROM) },
      replyRef: { kind: 'message', to: CUSTOMER },
      receivedAt: NOW.toISOString(),
      raw: fields,
    });
    expect(one(normalize(inboundFields('hi', { ProfileName: '' })))).not.toHaveProperty('userName');
  });

  it('marks a message without text (media) so the answer says it reads text only, with how many media it had', () => {
    const media = one(normalize(inboundFields('', { NumMedia: '2' })));
    expect(media).toMatchObject({ text: '', args: { media: 2 }, replyRef: { kind: 'message', to: CUSTOMER, mediaOnly: true } });
    expect(one(normalize(inboundFields(' ', { NumMedia: 'x' }))).args).toEqual({ media: 0 });
    const { Body: _, NumMedia: __, ...noBody } = inboundFields('');
    expect(one(normalize(noBody)).args).toEqual({ media: 0 });
    expect(one(normalize(inboundFields('hi', { NumMedia: '1' })))).not.toHaveProperty('args');
  });

  it('ignores status callbacks and other Twilio channels, and refuses a webhook without its fields', async () => {
    expect(normalize(inboundFields('hi', { MessageStatus: 'delivered' }))).toEqual({ ignore: 'a delivery status callback (delivered)' });
    expect(normalize(inboundFields('hi', { From: '+31612345678' }))).toEqual({ ignore: 'a message that did not come through WhatsApp' });
    expect(normalize(inboundFields('hi', { From: 'messenger:whatsapp:+31612345678' }))).toEqual({ ignore: 'a message that did not come through WhatsApp' });
    expect(one(normalize(inboundFields('hi', { From: 'WHATSAPP:+31612345678' }))).userId).toBe('WHATSAPP:+31612345678');
    for (const missing of ['MessageSid', 'From', 'To']) {
      const { [missing]: _, ...fields } = inboundFields('hi');
      const err = await refusal(() => normalize(fields));
      expect(err).toMatchObject({ code: 'invalid_request', message: 'a Twilio message webhook carries MessageSid, From and To' });
    }
  });
});
