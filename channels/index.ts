/** The channels module: a registry of adapters, and the public face of each channel. */
import type { ChannelAdapter, Destination, ReplySink } from '../src/ports.ts';
import type { Envelope, Reply } from '../src/types.ts';

export { createHooksAdapter, isValidHookSource } from './hooks/index.ts';
export type { HooksAdapter, HooksAdapterOptions } from './hooks/index.ts';
export { createWebAdapter } from './web/index.ts';

export type ChannelRegistry = ReplySink & {
  get(channel: string): ChannelAdapter | undefined;
  all(): ChannelAdapter[];
  /** Channels that can receive routed replies, for validating routing rules. */
  destinations(): { channel: string; enabled: boolean; requiredEnv: string[]; validateTarget?(target: string): string | undefined }[];
};

/** Looks adapters up by channel name; as a `ReplySink` it sends each reply back through the channel it came from. */
export function createChannelRegistry(adapters: ChannelAdapter[]): ChannelRegistry {
  const byName = new Map<string, ChannelAdapter>();
  for (const adapter of adapters) {
    if (byName.has(adapter.channel)) throw new Error(`channel "${adapter.channel}" is registered twice`);
    byName.set(adapter.channel, adapter);
  }
  return {
    get: (channel) => byName.get(channel),
    all: () => [...byName.values()],
    async reply(envelope: Envelope, reply: Reply, meta: { executionId: string }) {
      const adapter = byName.get(envelope.channel);
      if (!adapter) {
        const known = [...byName.keys()].join(', ') || 'none';
        throw new Error(`no adapter for channel "${envelope.channel}" (registered: ${known}); cannot deliver the reply to execution ${meta.executionId}`);
      }
      await adapter.reply(envelope, reply, meta);
    },
    async deliver(destination: Destination, reply: Reply, meta: { executionId: string }) {
      const adapter = byName.get(destination.channel);
      if (!adapter?.postTo) throw new Error(`channel "${destination.channel}" cannot be a routing destination; cannot deliver execution ${meta.executionId}`);
      if (!adapter.enabled) throw new Error(`channel "${destination.channel}" is disabled: set ${adapter.requiredEnv.join(', ')} to deliver execution ${meta.executionId}`);
      await adapter.postTo(destination.target, reply, meta);
    },
    destinations: () =>
      [...byName.values()]
        .filter((a) => a.postTo)
        .map((a) => ({ channel: a.channel, enabled: a.enabled, requiredEnv: a.requiredEnv, validateTarget: a.validateTarget?.bind(a) })),
  };
}
