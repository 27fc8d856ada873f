/**
 * The composition root: opens the database and queue, builds the pipeline, and serves HTTP and/or
 * runs workers depending on the role. The only core file that wires channels and handlers in.
 */
import type { Server as NodeHttpServer, ServerResponse as NodeServerResponse } from 'node:http';
import { serve, type ServerType } from '@hono/node-server';
import {
  createChannelRegistry,
  createHooksAdapter,
  createWebAdapter,
  disabledAdapter,
  GITHUB_PROFILE,
  SLACK_PROFILE,
  TELEGRAM_PROFILE,
  WHATSAPP_PROFILE,
} from '../channels/index.ts';
import { openStore, type OpenedStore } from '../db/index.ts';
import { createApp } from '../handlers/app.ts';
import { createProbeApp } from '../handlers/probes.ts';
import { createAccessPolicy } from './access/index.ts';
import { createAgents } from './agents/index.ts';
import { hookSecretEnvName, type Config } from './config.ts';
import { createBudget, createLiveReplies, createLlmChain } from './llm/index.ts';
import { createAdminTokenCheck, newAdminToken, tokenFingerprint } from './admin-token.ts';
import { createLogger } from './logger.ts';
import { configuredSecrets, createRedactor, type Redactor } from './redact.ts';
import { createMetrics } from './metrics.ts';
import { createIngest } from './pipeline/ingest.ts';
import { createBackpressure } from './pipeline/backpressure.ts';
import { createOutbound } from './pipeline/outbound.ts';
import { createMaintenance } from './pipeline/maintenance.ts';
import { createWaiter, type Waiter } from './pipeline/waiter.ts';
import { createWorker } from './pipeline/worker.ts';
import { startPoller } from './poller.ts';
import type { Agent, ChannelAdapter, Logger } from './ports.ts';
import { createRateLimiter } from './ratelimit.ts';

export type Role = 'web' | 'worker' | 'all';

export type Switchboard = {
  app: ReturnType<typeof createApp>;
  opened: OpenedStore;
  /**
   * A bearer token this process's /api accepts: ADMIN_TOKEN when set; otherwise the generated token when this
   * start created it, else a token valid in this process only (the stored token exists only as a hash).
   */
  adminToken: string;
  /** The generated admin token, only on the start that created it: the caller prints it, once. */
  createdAdminToken?: string;
  waiter: Waiter;
  /** The listening address when `listen` was asked for. */
  url?: string;
  /**
   * Runs one execution in this process now, retries included, and takes its job off the queue: how a CLI verb
   * answers on a server where no worker may be running. Does nothing when a worker already has it.
   */
  runNow(executionId: string): Promise<void>;
  stop(): Promise<void>;
};

export type StartOptions = {
  role?: Role;
  listen?: boolean;
  logger?: Logger & { child(b: object): Logger };
  /** The redactor the logger uses (createLogger's `redactor`); learns the admin token. Default: built from config. */
  redactor?: Redactor;
  /** The agents to serve; defaults to the built-in set. Tests add agents that fail on purpose. */
  agents?: Agent[];
  /**
   * Run the pollers of channels that fetch their events (TELEGRAM_MODE=polling, Slack Socket Mode). Default: in a web or all process
   * that listens, i.e. one that receives events; not in the in-process server a CLI verb starts.
   */
  poll?: boolean;
  /** The most one reply waits out platforms' Retry-After in place (default MAX_WAIT_MS); 0 defers every rate limit to the queue. */
  maxRateLimitWaitMs?: number;
};

export async function startSwitchboard(config: Config, opts: StartOptions = {}): Promise<Switchboard> {
  const role = opts.role ?? 'all';
  const redactor = opts.redactor ?? createRedactor(configuredSecrets(config));
  const logger = opts.logger ?? createLogger(config.logLevel, { role }, { redactor });
  const startedAt = new Date();
  // Where start time goes, for the debug line once ready: `modules` is the time from the process's start to here.
  const phases: Record<string, number> = { modules: Math.round(performance.now()) };
  let mark = performance.now();
  const phase = (name: string) => {
    phases[name] = Math.round(performance.now() - mark);
    mark = performance.now();
  };
  const opened = await openStore({
    phases,
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    notice: (message) => logger.info(message),
    poolSize: config.dbPoolSize,
    connectTimeoutSeconds: config.db.connectTimeoutSeconds,
    statementTimeoutSeconds: config.db.statementTimeoutSeconds,
    acquireTimeoutMs: config.db.acquireTimeoutMs,
    logger,
    queue: {
      maxAttempts: config.worker.maxAttempts,
      retryDelaySeconds: config.worker.retryDelaySeconds,
      jobTimeoutSeconds: config.worker.jobTimeoutSeconds,
      supervise: role !== 'web',
      onError: (err) => logger.error({ err }, 'queue error'),
    },
  });
  const { store } = opened;
  mark = performance.now();
  const agentList = opts.agents ?? createAgents();
  const agents = new Map(agentList.map((a) => [a.name, a]));
  await store.seedAgents(agentList.map((a) => ({ name: a.name, requiredRole: a.requiredRole })));

  const processToken = newAdminToken();
  redactor.add('ADMIN_TOKEN', processToken);
  let adminToken = config.adminToken ?? processToken;
  let createdAdminToken: string | undefined;
  let storedHash: string | undefined;
  if (config.adminToken) await store.hashLegacyAdminToken();
  else {
    const stored = await store.ensureAdminToken(newAdminToken());
    storedHash = stored.hash;
    createdAdminToken = stored.token;
    redactor.add('ADMIN_TOKEN', createdAdminToken);
    adminToken = createdAdminToken ?? processToken;
    const fingerprint = tokenFingerprint(stored.hash);
    if (createdAdminToken)
      logger.warn({ fingerprint }, 'ADMIN_TOKEN is not set: generated an admin token for this database; it is printed once, now, and only its hash is stored');
    else
      logger.info(
        { fingerprint },
        'ADMIN_TOKEN is not set: using the admin token generated earlier for this database (only its hash is stored); lost it? run `npx switchboard admin-token rotate`',
      );
  }
  const checkAdminToken = createAdminTokenCheck({ fixed: config.adminToken, processToken, initialHash: storedHash, readHash: () => store.adminTokenHash() });

  const metrics = createMetrics();
  // One answer must finish well inside its job's timeout, or the queue would start it again meanwhile.
  const llm = await createLlmChain(config.llm, { logger, deadlineMs: config.worker.jobTimeoutSeconds * 750, onEvent: (e) => metrics.recordLlm(e) });
  metrics.setProviderSource(() => llm.health());
  const waiter = createWaiter(store);
  const backpressure = createBackpressure({ limit: config.queueDepthLimit, readDepth: () => store.queueDepth() });
  metrics.setQueueSource(() => backpressure.state());
  metrics.setDatabaseSource(() => store.health.snapshot());
  // A platform's SDK is imported only when its channel is enabled: a process serving no platform loads none.
  const channels = createChannelRegistry([
    config.github.enabled
      ? (await import('../channels/github/index.ts')).createGithubAdapter(config.github, { logger, memory: store })
      : disabledAdapter(GITHUB_PROFILE, config.github),
    createWebAdapter(),
    createHooksAdapter({ secretFor: (source) => config.hookSecrets[hookSecretEnvName(source)] }),
    config.slack.enabled
      ? (await import('../channels/slack/index.ts')).createSlackAdapter(config.slack, { logger })
      : disabledAdapter(SLACK_PROFILE, config.slack),
    config.telegram.enabled ? await telegramAdapter(config.telegram, store, logger) : disabledAdapter(TELEGRAM_PROFILE, config.telegram),
    config.whatsapp.enabled
      ? (await import('../channels/whatsapp/index.ts')).createWhatsAppAdapter(config.whatsapp, config.publicUrl)
      : disabledAdapter(WHATSAPP_PROFILE, config.whatsapp),
  ]);
  // Streamed answers: throttled edits on channels that can edit a message, and the SSE endpoint.
  const live = createLiveReplies({
    logger,
    editorFor(envelope, executionId) {
      const adapter = channels.get(envelope.channel);
      return adapter?.update ? (text) => adapter.update!(envelope, text, { executionId }) : undefined;
    },
  });

  // Every role has one: `web` runs no jobs from the queue, but a CLI verb may run its own execution (runNow).
  const worker = createWorker({
    store,
    agents,
    llm,
    outbound: createOutbound({
      channel: (name) => channels.get(name),
      recordDelivered: (id, delivered) => store.recordDelivered(id, delivered),
      ...(opts.maxRateLimitWaitMs !== undefined ? { maxWaitMs: opts.maxRateLimitWaitMs } : {}),
    }),
    traits: (channel) => channels.traits(channel),
    logger,
    redactor,
    metrics,
    maxAttempts: config.worker.maxAttempts,
    now: () => new Date(),
    startedAt,
    onFinished: (id) => waiter.finished(id),
    budget: createBudget({ limits: config.llm.budgets, read: (scope) => store.usageSince(scope), tenant: (channel) => channels.traits(channel).tenant }),
    live,
    prepare: async (envelope, meta) => channels.get(envelope.channel)?.prepare?.(envelope, meta),
  });
  phase('setup');
  if (role !== 'web') {
    await store.queue.work(
      config.worker.concurrency,
      (job) => worker.run(job.data.executionId, job.data.deferrals),
      (job) => worker.lost(job.data.executionId),
    );
    await createMaintenance({ store, llm, logger, redactor, retentionDays: config.deliveryRetentionDays, now: () => new Date() }).schedule();
    phase('workers');
  }

  const ingest = createIngest({
    store,
    access: createAccessPolicy({ channels: config.access, quotaPerHour: config.quotaPerHour, store: store.access, now: () => new Date() }),
    onRefused(envelope, refusal) {
      metrics.accessDenied.inc({ channel: envelope.channel, reason: refusal.refused });
      logger.info(
        { channel: envelope.channel, tenantId: envelope.tenantId, userId: envelope.userId, reason: refusal.refused },
        'the access policy refused a message; nothing was stored',
      );
    },
    agentNames: new Set(agents.keys()),
    rateLimiter: createRateLimiter(config.rateLimit),
    backpressure,
    traits: (channel) => channels.traits(channel),
    // In `all`, wake the local worker on commit: a reply takes milliseconds, not a polling interval.
    onEnqueued: () => store.queue.wake(),
  });
  const app = createApp({
    store,
    ingest,
    waiter,
    metrics,
    logger,
    checkAdminToken,
    replyWaitSeconds: config.replyWaitSeconds,
    agents: agentList,
    receivers: channels.all(),
    web: channels.get('web')!,
    providers: () => llm.health(),
    live,
    queue: () => backpressure.state(),
    destinations: () => channels.destinations(),
    access: { channels: config.access, quotaPerHour: config.quotaPerHour },
    publicUrl: config.publicUrl,
  });

  phase('wiring');
  let closeServer: (() => Promise<void>) | undefined;
  let url: string | undefined;
  if (opts.listen !== false) {
    // A worker serves only its probes and /metrics, so its executions and latencies can be scraped.
    const fetch =
      role === 'worker' ? createProbeApp({ store, metrics, logger, providers: () => llm.health(), queue: () => backpressure.state() }).fetch : app.fetch;
    const server = await new Promise<ServerType>((resolve, reject) => {
      const s = serve({ fetch, port: config.port, hostname: config.host }, () => resolve(s));
      s.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'EADDRINUSE'
            ? new Error(
                `${config.host}:${config.port} is already in use; give this ${role} process its own PORT (a worker serves /healthz, /readyz and /metrics there too)`,
              )
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
    closeServer = closable(server);
    phase('listen');
  }

  // Channels that fetch events receive like a web process does, under a leader lock so one process polls at a time.
  const pollers =
    role !== 'worker' && (opts.poll ?? opts.listen !== false)
      ? channels
          .all()
          .filter((a): a is ChannelAdapter & Required<Pick<ChannelAdapter, 'poll'>> => a.enabled && a.poll !== undefined)
          .map((adapter) => startPoller({ adapter, ingest, lead: (name) => store.tryLeadership(name), logger }))
      : [];

  logger.debug({ phasesMs: phases }, `started: ${Math.round(performance.now())} ms since the process started`);
  let stopping: Promise<void> | undefined;
  return {
    app,
    opened,
    adminToken,
    createdAdminToken,
    waiter,
    url,
    async runNow(executionId) {
      if (!(await store.queue.claim(executionId))) return;
      // The queue's retry policy, kept in process: the job is off the queue, so nothing else would retry it.
      for (let attempt = 1, delay = config.worker.retryDelaySeconds; ; attempt++, delay = Math.min(delay * 2, 300)) {
        try {
          return await worker.run(executionId);
        } catch (err) {
          if (attempt >= config.worker.maxAttempts) throw err;
          await new Promise((resolve) => setTimeout(resolve, delay * 1000));
        }
      }
    },
    stop() {
      stopping ??= (async () => {
        await Promise.all(pollers.map((p) => p.stop()));
        await closeServer?.();
        await opened.close(true);
      })();
      return stopping;
    },
  };
}

/**
 * A server that stops gracefully: `close` stops listening, lets requests in flight finish, and makes every
 * response from then on say `Connection: close`. Closing the listener alone closes only the connections idle at
 * that moment; a client or load balancer holding another keep-alive connection would go on sending it requests.
 */
function closable(server: ServerType): () => Promise<void> {
  const http = server as NodeHttpServer;
  const inFlight = new Set<NodeServerResponse>();
  let closing = false;
  const sayClose = (res: NodeServerResponse) => {
    if (!res.headersSent) res.setHeader('connection', 'close');
  };
  http.prependListener('request', (_req, res) => {
    if (closing) return sayClose(res);
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });
  return async () => {
    closing = true;
    const closed = new Promise<void>((resolve) => http.close(() => resolve()));
    // A response whose headers are already out (a stream) keeps its connection until it ends; it is closed then.
    for (const res of inFlight) sayClose(res);
    const idle = setInterval(() => http.closeIdleConnections(), 250);
    await closed.finally(() => clearInterval(idle));
  };
}

async function telegramAdapter(config: Config['telegram'], store: OpenedStore['store'], logger: Logger): Promise<ChannelAdapter> {
  const { BOT_INFO_SETTING, createTelegramAdapter, parseBotInfo } = await import('../channels/telegram/index.ts');
  return createTelegramAdapter(config, {
    // Stored by `telegram set-webhook` (or by the first lookup): so no process asks getMe at start or after.
    botInfo: parseBotInfo(await store.setting(BOT_INFO_SETTING), config.botToken),
    onBotInfo: (info) =>
      store
        .putSetting(BOT_INFO_SETTING, JSON.stringify(info))
        .catch((err: unknown) => logger.warn({ err }, 'could not store the Telegram bot info; the next start asks getMe once')),
  });
}
