/** The `web` channel: `POST /api/messages` from the dashboard playground or any API client. */
import type { ChannelAdapter } from '../../src/ports.ts';
import { normalizeWeb } from './normalize.ts';
import { verifyWeb } from './verify.ts';

export { normalizeWeb, webMessageSchema } from './normalize.ts';
export type { WebMessage } from './normalize.ts';
export { verifyWeb } from './verify.ts';

/**
 * Always enabled: it needs no platform credentials, only the admin token every `/api/*` route needs. Posted to at
 * `/api/messages` (handlers/api.ts), so it has no webhook path. No `send`: the reply is stored on the execution, and
 * the client reads it from `?wait=1`, `GET /api/executions/:id` or the conversation; there is no connection to push to.
 */
export function createWebAdapter(opts: { now?: () => Date } = {}): ChannelAdapter {
  const now = opts.now ?? (() => new Date());
  return {
    channel: 'web',
    requiredEnv: [],
    enabled: true,
    // Admin-token holders: throttled like people, never shed, and the operator.
    traits: { throttled: true, sheddable: false, tenant: 'chat', operator: true },
    verify: verifyWeb,
    normalize: (req) => normalizeWeb(req, now),
  };
}
