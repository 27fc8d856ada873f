/** What the registry knows of the WhatsApp channel without loading Twilio's SDK: its route and ingress traits. */
import type { ChannelReceiver } from '../../src/ports.ts';

export const WHATSAPP_PROFILE = {
  channel: 'whatsapp',
  path: '/whatsapp/webhook',
  traits: { throttled: true, sheddable: false, tenant: 'chat', operator: false },
} as const satisfies Pick<ChannelReceiver, 'channel' | 'path' | 'traits'>;
