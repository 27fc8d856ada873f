/** Wires routes to the pipeline. Handlers translate HTTP; they never talk SQL. */
import { Hono } from 'hono';
import type { Store } from '../db/index.ts';
import type { AdminTokenCheck } from '../src/admin-token.ts';
import type { Metrics } from '../src/metrics.ts';
import type { Ingest } from '../src/pipeline/ingest.ts';
import type { Waiter } from '../src/pipeline/waiter.ts';
import type { LiveReplies } from '../src/llm/index.ts';
import type { Agent, ChannelReceiver, Logger, ProviderHealth } from '../src/ports.ts';
import { apiRoutes, type ApiDeps } from './api/index.ts';
import { channelRoute } from './channel.ts';
import { createErrorHandler, jsonError } from './errors.ts';
import { consoleRoutes } from './console/index.ts';
import { healthRoutes } from './health.ts';
import { countRequests, limitBody } from './middleware.ts';
import { pageHeaders } from './page-headers.ts';
import { createSessions, sessionAuth } from './session.ts';

export type AppDeps = {
  store: Store;
  ingest: Ingest;
  waiter: Waiter;
  metrics: Metrics;
  logger: Logger;
  /** Whether a bearer token may use /api (see src/admin-token.ts). */
  checkAdminToken: AdminTokenCheck;
  replyWaitSeconds: number;
  agents: readonly Agent[];
  /** Every channel's receiver: each with a `path` gets its webhook route. */
  receivers: readonly ChannelReceiver[];
  /** The web channel, posted to at /api/messages. */
  web: ChannelReceiver;
  providers(): ProviderHealth[];
  /** Streamed answers in this process, for GET /api/executions/:id/stream. */
  live: LiveReplies;
  destinations: ApiDeps['destinations'];
  access: ApiDeps['access'];
  queue(): Promise<{ depth: number; limit: number; degraded: boolean }>;
  /** PUBLIC_URL: the console's cookie is Secure and its Origin accepted when this is https. */
  publicUrl?: string;
};

export function createApp(deps: AppDeps) {
  const app = new Hono();
  app.onError(createErrorHandler(deps.logger));
  app.notFound((c) => jsonError(c, 404, 'not_found', `No route for ${c.req.method} ${c.req.path}`));
  app.use('*', countRequests(deps.metrics));
  app.use('*', limitBody());
  app.use('*', pageHeaders());

  app.route('/', healthRoutes({ store: deps.store, metrics: deps.metrics, providers: deps.providers, queue: deps.queue }));
  // Deliveries refused while the database was unavailable: counted for /readyz and `status`.
  const onRefused = (channel: string) => deps.store.health.refused(channel);

  // The operator console: its pages, sign-in, and /api/* accepting its session cookie (with a CSRF token) besides the bearer token.
  const sessions = createSessions({ keyMaterial: deps.checkAdminToken.currentHash, publicUrl: deps.publicUrl });
  app.route('/', consoleRoutes({ sessions, checkAdminToken: deps.checkAdminToken, publicUrl: deps.publicUrl }));
  app.use('/api/*', sessionAuth(sessions, deps.publicUrl));

  // One route shape for every platform webhook (handlers/channel.ts), at the path its receiver names.
  for (const receiver of deps.receivers) {
    if (receiver.path) app.post(receiver.path, channelRoute({ adapter: receiver, ingest: deps.ingest, onRefused }));
  }

  app.route(
    '/api',
    apiRoutes({
      store: deps.store,
      ingest: deps.ingest,
      waiter: deps.waiter,
      web: deps.web,
      agents: deps.agents,
      checkAdminToken: deps.checkAdminToken,
      replyWaitSeconds: deps.replyWaitSeconds,
      destinations: deps.destinations,
      live: deps.live,
      access: deps.access,
      channels: deps.receivers,
      providers: deps.providers,
      queue: deps.queue,
    }),
  );
  return app;
}
