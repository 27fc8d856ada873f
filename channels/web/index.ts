/** The `web` channel: `POST /api/messages` from the dashboard playground or any API client. */
import type { ChannelAdapter } from '../../src/ports.ts';
import { normalizeWeb } from './normalize.ts';
import { replyWeb } from './reply.ts';
import { verifyWeb } from './verify.ts';

export { normalizeWeb, webMessageSchema } from './normalize.ts';
export type { WebMessage } from './normalize.ts';
export { replyWeb } from './reply.ts';
export { verifyWeb } from './verify.ts';

/** Always enabled: it needs no platform credentials, only the admin token every `/api/*` route needs. */
export function createWebAdapter(opts: { now?: () => Date } = {}): ChannelAdapter {
  const now = opts.now ?? (() => new Date());
  return {
    channel: 'web',
    requiredEnv: [],
    enabled: true,
    verify: verifyWeb,
    normalize: (req) => normalizeWeb(req, now),
    reply: replyWeb,
  };
}
