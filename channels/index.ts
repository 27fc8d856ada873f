/** The channels module: a registry of adapters, and the public face of each channel. */
import type { ChannelAdapter, ReplySink } from '../src/ports.ts';
import type { Envelope, Reply } from '../src/types.ts';

export { createHooksAdapter, isValidHookSource } from './hooks/index.ts';
export type { HooksAdapter, HooksAdapterOptions } from './hooks/index.ts';
export { createWebAdapter } from './web/index.ts';

export type ChannelRegistry = ReplySink & {
  get(channel: string): ChannelAdapter | undefined;
  all(): ChannelAdapter[];
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
  };
}
