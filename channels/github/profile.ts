/** What the registry knows of the GitHub channel without loading Octokit: its route and ingress traits. */
import type { ChannelReceiver } from '../../src/ports.ts';

export const GITHUB_PROFILE = {
  channel: 'github',
  // App or repository webhook; `ping` and events we do not handle are acknowledged and stored nowhere.
  path: '/github/webhook',
  // GitHub never redelivers on its own, so a per-person 429 would lose the event; queue depth is watched instead.
  traits: {
    throttled: false,
    sheddable: false,
    tenant: 'repository',
    operator: false,
    redeliver: "GitHub does not redeliver by itself: redeliver those from the App's Advanced page or the webhook's Recent Deliveries",
  },
} as const satisfies Pick<ChannelReceiver, 'channel' | 'path' | 'traits'>;
