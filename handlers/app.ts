/** Wires routes to the pipeline. Handlers translate HTTP; they never talk SQL. */
import { Hono } from 'hono';
import { isValidHookSource } from '../channels/hooks/index.ts';
import type { Store } from '../db/index.ts';
import type { AdminTokenCheck } from '../src/admin-token.ts';
import type { Metrics } from '../src/metrics.ts';
import type { Ingest } from '../src/pipeline/ingest.ts';
import type { Waiter } from '../src/pipeline/waiter.ts';
import type { LiveReplies } from '../src/llm/index.ts';
import type { Agent, ChannelAdapter, Logger, ProviderHealth, RawRequest } from '../src/ports.ts';
import { apiRoutes, type ApiDeps } from './api/index.ts';
import { channelRoute, rawRequest } from './channel.ts';
import { createErrorHandler, jsonError } from './errors.ts';
import { consoleApiRoutes } from './console/api.ts';
import { consoleRoutes } from './console/index.ts';
import { healthRoutes } from './health.ts';
import { countRequests, limitBody, requireContentType } from './middleware.ts';
import { pageHeaders } from './page-headers.ts';
import { createSessions, sessionAuth } from './session.ts';

export type HooksAdapter = ChannelAdapter & { enabledFor(source: string): boolean; requiredEnvFor(source: string): string[] };
/** Slack's Request URL also receives the `url_verification` handshake, answered with its challenge before anything is stored. */
export type SlackAdapter = ChannelAdapter & { challenge(req: RawRequest): string | undefined };

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
  web: ChannelAdapter;
  hooks: HooksAdapter;
  slack: SlackAdapter;
  github: ChannelAdapter;
  telegram: ChannelAdapter;
  whatsapp: ChannelAdapter;
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
  const channels = [deps.slack, deps.telegram, deps.whatsapp, deps.github, deps.hooks, deps.web];
  app.route('/api', consoleApiRoutes({ store: deps.store, checkAdminToken: deps.checkAdminToken, agents: deps.agents, channels, providers: deps.providers, queue: deps.queue }));

  app.post(
    '/hooks/:source',
    channelRoute({
      adapter: deps.hooks,
      ingest: deps.ingest,
      onRefused,
      accepts: ['application/json'],
      enabled(c) {
        const source = c.req.param('source') ?? '';
        if (!isValidHookSource(source)) return { enabled: false, requiredEnv: ['a source name of letters, digits, - and _'] };
        return { enabled: deps.hooks.enabledFor(source), requiredEnv: deps.hooks.requiredEnvFor(source) };
      },
    }),
  );

  // One Request URL for the Events API (JSON), slash commands and interactivity (both form-encoded).
  app.post(
    '/slack/events',
    requireContentType('application/json', 'application/x-www-form-urlencoded'),
    async function slackHandshake(c, next) {
      const challenge = deps.slack.enabled ? deps.slack.challenge(await rawRequest(c)) : undefined;
      if (challenge === undefined) return next();
      return c.json({ challenge });
    },
    channelRoute({ adapter: deps.slack, ingest: deps.ingest, onRefused }),
  );

  // GitHub App or repository webhook; `ping` and events we do not handle are acknowledged and stored nowhere.
  app.post('/github/webhook', channelRoute({ adapter: deps.github, ingest: deps.ingest, onRefused, accepts: ['application/json'] }));

  app.post('/telegram/webhook', channelRoute({ adapter: deps.telegram, ingest: deps.ingest, onRefused, accepts: ['application/json'] }));
  // Twilio posts form fields and reads the answer as TwiML (the adapter's ack).
  app.post('/whatsapp/webhook', channelRoute({ adapter: deps.whatsapp, ingest: deps.ingest, onRefused, accepts: ['application/x-www-form-urlencoded'] }));

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
    }),
  );
  return app;
}
