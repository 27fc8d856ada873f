/**
 * The composition root: opens the database and queue, builds the pipeline, and serves HTTP and/or
 * runs workers depending on the role. The only core file that wires channels and handlers in.
 */
import { serve, type ServerType } from '@hono/node-server';
import { createChannelRegistry, createHooksAdapter, createWebAdapter } from '../channels/index.ts';
import { createGithubAdapter } from '../channels/github/index.ts';
import { createSlackAdapter } from '../channels/slack/index.ts';
import { BOT_INFO_SETTING, createTelegramAdapter, parseBotInfo } from '../channels/telegram/index.ts';
import { createWhatsAppAdapter } from '../channels/whatsapp/index.ts';
import { openStore, type OpenedStore } from '../db/index.ts';
import { createApp } from '../handlers/app.ts';
import { createProbeApp } from '../handlers/probes.ts';
import { createAgents } from './agents/index.ts';
import { hookSecretEnvName, type Config } from './config.ts';
import { createBudget, createLiveReplies, createLlmChain } from './llm/index.ts';
import { createLogger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { createIngest } from './pipeline/ingest.ts';
import { createBackpressure } from './pipeline/backpressure.ts';
import { createMaintenance } from './pipeline/maintenance.ts';
import { createWaiter, type Waiter } from './pipeline/waiter.ts';
import { recordVote } from './pipeline/votes.ts';
import { createWorker } from './pipeline/worker.ts';
import { startPoller } from './poller.ts';
import type { Agent, ChannelAdapter, Logger } from './ports.ts';
import { createRateLimiter } from './ratelimit.ts';

export type Role = 'web' | 'worker' | 'all';

export type Switchboard = {
  app: ReturnType<typeof createApp>;
  opened: OpenedStore;
  adminToken: string;
  waiter: Waiter;
  /** The listening address when `listen` was asked for. */
  url?: string;
  stop(): Promise<void>;
};

export type StartOptions = {
  role?: Role;
  listen?: boolean;
  logger?: Logger & { child(b: object): Logger };
  /** The agents to serve; defaults to the built-in set. Tests add agents that fail on purpose. */
  agents?: Agent[];
  /**
   * Run the pollers of channels that fetch their events (TELEGRAM_MODE=polling). Default: in a web or all process
   * that listens, i.e. one that receives events; not in the in-process server a CLI verb starts.
   */
  poll?: boolean;
};

export async function startSwitchboard(config: Config, opts: StartOptions = {}): Promise<Switchboard> {
  const role = opts.role ?? 'all';
  const logger = opts.logger ?? createLogger(config.logLevel, { role });
  const startedAt = new Date();
  const opened = await openStore({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.dbPoolSize,
    queue: {
      maxAttempts: config.worker.maxAttempts,
      retryDelaySeconds: config.worker.retryDelaySeconds,
      jobTimeoutSeconds: config.worker.jobTimeoutSeconds,
      supervise: role !== 'web',
      onError: (err) => logger.error({ err }, 'queue error'),
    },
  });
  const { store } = opened;
  const agentList = opts.agents ?? createAgents();
  const agents = new Map(agentList.map((a) => [a.name, a]));
  await store.seedAgents([...agents.keys()]);

  let adminToken = config.adminToken;
  if (!adminToken) {
    const generated = await store.generatedAdminToken();
    adminToken = generated.token;
    logger.warn(
      { adminToken, generated: generated.created },
      'ADMIN_TOKEN is not set: using the token generated for this database (send it as "Authorization: Bearer <token>" to /api); set ADMIN_TOKEN to choose your own',
    );
  }

  if (config.slack.appToken) {
    logger.warn('SLACK_APP_TOKEN is set, but Socket Mode is not supported yet: Slack must post to PUBLIC_URL/slack/events (see docs/slack.md); unset it to silence this');
  }

  const metrics = createMetrics();
  // One answer must finish well inside its job's timeout, or the queue would start it again meanwhile.
  const llm = createLlmChain(config.llm, { logger, deadlineMs: config.worker.jobTimeoutSeconds * 750, onEvent: (e) => metrics.recordLlm(e) });
  metrics.setProviderSource(() => llm.health());
  const waiter = createWaiter(store);
  const backpressure = createBackpressure({ limit: config.queueDepthLimit, readDepth: () => store.queueDepth() });
  metrics.setQueueSource(() => backpressure.state());
  const slack = createSlackAdapter(config.slack, { logger });
  const github = createGithubAdapter(config.github, {
    logger,
    memory: store,
    // Reactions found by polling take the pipeline's one vote path, cast in the pull request they sit on.
    async feedback(vote, where) {
      const voter = { userId: vote.userId, channel: where.channel, tenantId: where.tenantId, conversationKey: where.conversationKey, ...(where.address !== undefined ? { address: where.address } : {}), admin: false };
      return (await recordVote(store, { executionId: vote.executionId, score: vote.score, voter })).recorded;
    },
  });
  const channels = createChannelRegistry([
    github,
    createWebAdapter(),
    createHooksAdapter({ secretFor: (source) => config.hookSecrets[hookSecretEnvName(source)] }),
    slack,
    createTelegramAdapter(config.telegram, {
      // Stored by `telegram set-webhook` (or by the first lookup): so no process asks getMe at start or after.
      botInfo: config.telegram.enabled ? parseBotInfo(await store.setting(BOT_INFO_SETTING), config.telegram.botToken) : undefined,
      onBotInfo: (info) =>
        store.putSetting(BOT_INFO_SETTING, JSON.stringify(info)).catch((err: unknown) => logger.warn({ err }, 'could not store the Telegram bot info; the next start asks getMe once')),
    }),
    createWhatsAppAdapter(config.whatsapp, config.publicUrl),
  ]);
  // Streamed answers: throttled edits on channels that can edit a message, and the SSE endpoint.
  const live = createLiveReplies({
    logger,
    editorFor(envelope, executionId) {
      const adapter = channels.get(envelope.channel);
      return adapter?.update ? (text) => adapter.update!({ ...envelope.replyRef, executionId }, { text }) : undefined;
    },
  });

  if (role !== 'web') {
    const worker = createWorker({
      store,
      agents,
      llm,
      replies: channels,
      logger,
      metrics,
      maxAttempts: config.worker.maxAttempts,
      now: () => new Date(),
      startedAt,
      onFinished: (id) => waiter.finished(id),
      budget: createBudget({ limits: config.llm.budgets, read: (scope) => store.usageSince(scope) }),
      live,
      prepare: async (envelope, meta) => channels.get(envelope.channel)?.prepare?.(envelope, meta),
    });
    await store.queue.work(
      config.worker.concurrency,
      (job) => worker.run(job.data.executionId, job.data.deferrals),
      (job) => worker.lost(job.data.executionId),
    );
    await createMaintenance({ store, llm, logger, retentionDays: config.deliveryRetentionDays, now: () => new Date() }).schedule();
  }

  const ingest = createIngest({
    store,
    agentNames: new Set(agents.keys()),
    rateLimiter: createRateLimiter(config.rateLimit),
    backpressure,
    // In `all`, wake the local worker on commit: a reply takes milliseconds, not a polling interval.
    onEnqueued: () => store.queue.wake(),
  });
  const app = createApp({
    store,
    ingest,
    waiter,
    metrics,
    logger,
    adminToken,
    replyWaitSeconds: config.replyWaitSeconds,
    agents: agentList,
    web: channels.get('web')!,
    hooks: channels.get('hooks') as Parameters<typeof createApp>[0]['hooks'],
    slack,
    github,
    telegram: channels.get('telegram')!,
    whatsapp: channels.get('whatsapp')!,
    providers: () => llm.health(),
    live,
    queue: () => backpressure.state(),
    destinations: () => channels.destinations(),
  });

  let server: ServerType | undefined;
  let url: string | undefined;
  if (opts.listen !== false) {
    // A worker serves only its probes and /metrics, so its executions and latencies can be scraped.
    const fetch = role === 'worker' ? createProbeApp({ store, metrics, logger, providers: () => llm.health(), queue: () => backpressure.state() }).fetch : app.fetch;
    server = await new Promise<ServerType>((resolve, reject) => {
      const s = serve({ fetch, port: config.port, hostname: config.host }, () => resolve(s));
      s.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'EADDRINUSE'
            ? new Error(`${config.host}:${config.port} is already in use; give this ${role} process its own PORT (a worker serves /healthz, /readyz and /metrics there too)`)
            : err,
        ),
      );
    }).catch(async (err) => {
      // Workers are already taking jobs: let them finish or hand them back before the process gives up.
      await opened.close(true).catch(() => {});
      throw err;
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  }

  // Channels that fetch events receive like a web process does, under a leader lock so one process polls at a time.
  const pollers =
    role !== 'worker' && (opts.poll ?? opts.listen !== false)
      ? channels
          .all()
          .filter((a): a is ChannelAdapter & Required<Pick<ChannelAdapter, 'poll'>> => a.enabled && a.poll !== undefined)
          .map((adapter) => startPoller({ adapter, ingest, lead: (name) => store.tryLeadership(name), logger }))
      : [];

  let stopping: Promise<void> | undefined;
  return {
    app,
    opened,
    adminToken,
    waiter,
    url,
    stop() {
      stopping ??= (async () => {
        await Promise.all(pollers.map((p) => p.stop()));
        if (server) {
          const s = server;
          await new Promise<void>((resolve) => s.close(() => resolve()));
        }
        await opened.close(true);
      })();
      return stopping;
    },
  };
}
