/** What the admin API needs from the rest of the program: one bag, of which each resource takes its part. */
import type { Store } from '../../db/index.ts';
import type { AdminTokenCheck } from '../../src/admin-token.ts';
import type { AccessChannel, ChannelAccess } from '../../src/config.ts';
import type { LiveReplies } from '../../src/llm/index.ts';
import type { Ingest } from '../../src/pipeline/ingest.ts';
import type { Waiter } from '../../src/pipeline/waiter.ts';
import type { Agent, ChannelAdapter, ChannelReceiver, ProviderHealth } from '../../src/ports.ts';

export type ApiDeps = {
  store: Store;
  ingest: Ingest;
  waiter: Waiter;
  web: ChannelAdapter;
  agents: readonly Agent[];
  checkAdminToken: AdminTokenCheck;
  replyWaitSeconds: number;
  /** Channels that can receive routed replies (see ChannelRegistry.destinations), each checking its own addresses. */
  destinations(): { channel: string; enabled: boolean; requiredEnv: string[]; validateTarget?(target: string): string | undefined }[];
  /** Answers streaming in this process (GET /api/executions/:id/stream). */
  live: LiveReplies;
  /** The access settings from the environment (`<CHANNEL>_ACCESS`, `_ALLOW`, `_ADMINS`, QUOTA_PER_HOUR), shown by GET /api/access. */
  access: { channels: Record<AccessChannel, ChannelAccess>; quotaPerHour: number };
  /** Every channel's receiver: which are enabled, and the variables that turn each on (GET /api/overview). */
  channels: readonly ChannelReceiver[];
  providers(): ProviderHealth[];
  queue(): Promise<{ depth: number; limit: number; degraded: boolean }>;
  now?(): Date;
};
