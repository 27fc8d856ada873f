/** What the registry knows of the Slack channel without loading its SDK: its route and ingress traits. */
import type { ChannelReceiver } from '../../src/ports.ts';

export const SLACK_PROFILE = {
  channel: 'slack',
  // One Request URL for the Events API (JSON), slash commands and interactivity (both form-encoded).
  path: '/slack/events',
  traits: { throttled: true, sheddable: false, tenant: 'workspace', operator: false },
} as const satisfies Pick<ChannelReceiver, 'channel' | 'path' | 'traits'>;
