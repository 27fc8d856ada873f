/**
 * The console's own reads under /api. GET /api/overview: what the Overview and Agents pages show, in one answer,
 * read from the execution log (db/activity.ts), with queue and provider state from the same sources as /readyz.
 * GET /api/conversations/:id/feedback: the votes on each answer of a conversation.
 */
import { Hono } from 'hono';
import type { Store } from '../../db/index.ts';
import type { AdminTokenCheck } from '../../src/admin-token.ts';
import type { Agent, ChannelReceiver, ProviderHealth } from '../../src/ports.ts';
import { NotFoundError } from '../../src/errors.ts';
import { adminAuth } from '../middleware.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Agent numbers cover this many days; the activity chart the last day, by hour. */
export const AGENT_DAYS = 7;
const SERIES_HOURS = 24;

export type ConsoleApiDeps = {
  store: Store;
  checkAdminToken: AdminTokenCheck;
  agents: readonly Agent[];
  channels: readonly ChannelReceiver[];
  providers(): ProviderHealth[];
  queue(): Promise<{ depth: number; limit: number; degraded: boolean }>;
  now?(): Date;
};

export function consoleApiRoutes(deps: ConsoleApiDeps) {
  const { store } = deps;
  const now = deps.now ?? (() => new Date());
  const app = new Hono();
  app.use('/overview', adminAuth(deps.checkAdminToken));
  app.use('/conversations/:id/feedback', adminAuth(deps.checkAdminToken));
  app.get('/overview', async (c) => {
    const at = now();
    const hourAgo = new Date(at.getTime() - 3_600_000);
    const [queue, lastHour, activity, series, rows, feedback] = await Promise.all([
      deps.queue(),
      store.countsSince(hourAgo),
      store.agentActivity(new Date(at.getTime() - AGENT_DAYS * 86_400_000)),
      store.activitySeries(new Date(at.getTime() - SERIES_HOURS * 3_600_000), 3600),
      store.listAgents(),
      store.feedbackSummary(),
    ]);
    const executions = Object.values(lastHour).reduce((n, v) => n + v, 0);
    const failures = (lastHour.failed ?? 0) + (lastHour.dead ?? 0);
    return c.json({
      at: at.toISOString(),
      channels: deps.channels.map((ch) => ({ channel: ch.channel, enabled: ch.enabled, required_env: ch.requiredEnv })),
      queue,
      providers: deps.providers().map((p) => ({ name: p.name, state: p.state, last_error: p.lastError ?? null })),
      last_hour: { executions, failures, per_minute: Math.round((executions / 60) * 100) / 100 },
      agent_days: AGENT_DAYS,
      agents: deps.agents.map((agent) => {
        const a = activity.find((r) => r.agent === agent.name);
        const f = feedback.byAgent.find((r) => r.agent === agent.name);
        const finished = (a?.succeeded ?? 0) + (a?.failed ?? 0);
        return {
          name: agent.name,
          description: agent.description,
          enabled: rows.find((r) => r.name === agent.name)?.enabled ?? false,
          runs: a?.runs ?? 0,
          succeeded: a?.succeeded ?? 0,
          failed: a?.failed ?? 0,
          success_rate: finished ? Math.round((a!.succeeded / finished) * 1000) / 1000 : null,
          median_latency_ms: a?.medianLatencyMs ?? null,
          cost_usd: a?.costUsd ?? 0,
          up: f?.up ?? 0,
          down: f?.down ?? 0,
        };
      }),
      series: series.map((b) => ({ at: b.at.toISOString(), executions: b.executions, failures: b.failures })),
    });
  });

  app.get('/conversations/:id/feedback', async (c) => {
    const id = c.req.param('id');
    if (!UUID.test(id)) throw new NotFoundError(`Conversation ${id}`);
    const votes = await store.conversationFeedback(id);
    return c.json({ feedback: votes.map((v) => ({ execution_id: v.executionId, up: v.up, down: v.down })) });
  });
  return app;
}
