/**
 * GET /api/overview: what the console's Overview and Agents pages show, in one answer, read from the execution log
 * (db/activity.ts), with queue and provider state from the same sources as /readyz.
 */
import { Hono } from 'hono';
import type { ApiDeps } from './deps.ts';

/** Agent numbers cover this many days; the activity chart the last day, by hour. */
export const AGENT_DAYS = 7;
const SERIES_HOURS = 24;

export function overviewRoutes(deps: Pick<ApiDeps, 'store' | 'agents' | 'channels' | 'providers' | 'queue' | 'now'>) {
  const { store } = deps;
  const now = deps.now ?? (() => new Date());
  const api = new Hono();
  api.get('/overview', async (c) => {
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

  return api;
}
