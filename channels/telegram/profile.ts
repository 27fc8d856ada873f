/** What the registry knows of the Telegram channel without loading grammY: its route and ingress traits. */
import type { ChannelReceiver } from '../../src/ports.ts';

export const TELEGRAM_PROFILE = {
  channel: 'telegram',
  path: '/telegram/webhook',
  traits: { throttled: true, sheddable: false, tenant: 'chat', operator: false },
} as const satisfies Pick<ChannelReceiver, 'channel' | 'path' | 'traits'>;
