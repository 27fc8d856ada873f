/** The channels module: a registry of adapters, and the public face of each channel. */
import type { ChannelAdapter, ChannelReceiver, Enablement, IngressTraits } from '../src/ports.ts';

export { createHooksAdapter, isValidHookSource } from './hooks/index.ts';
export type { HooksAdapterOptions } from './hooks/index.ts';
export { createWebAdapter } from './web/index.ts';
// SDK-free: a platform channel's own module (and its SDK) is imported only when the channel is enabled.
export { GITHUB_PROFILE } from './github/profile.ts';
export { SLACK_PROFILE } from './slack/profile.ts';
export { TELEGRAM_PROFILE } from './telegram/profile.ts';
export { WHATSAPP_PROFILE } from './whatsapp/profile.ts';

/** A channel no adapter registered (an envelope stored before it was removed): treated like a chat of people. */
const UNKNOWN_TRAITS: IngressTraits = { throttled: true, sheddable: false, tenant: 'chat', operator: false };

export type ChannelRegistry = {
  get(channel: string): ChannelAdapter | undefined;
  all(): ChannelAdapter[];
  /** The ingress traits of a channel, read by the core instead of its name. */
  traits(channel: string): IngressTraits;
  /** Channels that can receive routed replies, for validating routing rules. */
  destinations(): { channel: string; enabled: boolean; requiredEnv: string[]; validateTarget?(target: string): string | undefined }[];
};

/** Looks adapters up by channel name: the one place the core and the handlers find a channel. */
export function createChannelRegistry(adapters: ChannelAdapter[]): ChannelRegistry {
  const byName = new Map<string, ChannelAdapter>();
  for (const adapter of adapters) {
    if (byName.has(adapter.channel)) throw new Error(`channel "${adapter.channel}" is registered twice`);
    byName.set(adapter.channel, adapter);
  }
  return {
    get: (channel) => byName.get(channel),
    all: () => [...byName.values()],
    traits: (channel) => byName.get(channel)?.traits ?? UNKNOWN_TRAITS,
    destinations: () =>
      [...byName.values()]
        .filter((a) => a.postTo)
        .map((a) => ({ channel: a.channel, enabled: a.enabled, requiredEnv: a.requiredEnv, validateTarget: a.validateTarget?.bind(a) })),
  };
}

/**
 * A platform channel whose variables are unset, built without its module or SDK: its route answers 404 naming
 * the variables, its traits still describe envelopes stored while it was enabled, and sending through it fails.
 */
export function disabledAdapter(profile: Pick<ChannelReceiver, 'channel' | 'path' | 'traits'>, status: Enablement): ChannelAdapter {
  const disabled = (): never => {
    throw new Error(`the ${profile.channel} channel is disabled: set ${status.requiredEnv.join(', ')}`);
  };
  return { ...profile, requiredEnv: status.requiredEnv, enabled: false, verify: disabled, normalize: disabled, postTo: disabled };
}
