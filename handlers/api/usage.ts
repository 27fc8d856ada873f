/** Tokens and cost of executions that called a model, over the last `days` UTC days, by day, agent, provider and tenant. */
import { Hono } from 'hono';
import { z } from 'zod';
import { USAGE_GROUPS, type UsageRow } from '../../db/index.ts';
import { startOfUtcDay } from '../../src/llm/index.ts';
import type { ApiDeps } from './deps.ts';
import { parse, querySchema } from './input.ts';

const usageQuery = querySchema({
  days: z.coerce.number().int().min(1).max(366).default(7),
  group: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((g) => g.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(USAGE_GROUPS, { message: `each group must be one of ${USAGE_GROUPS.join(', ')}` })).max(USAGE_GROUPS.length))
    .optional(),
});

function presentUsage(r: UsageRow) {
  const { executions, inputTokens, outputTokens, costUsd, ...keys } = r;
  return { ...keys, executions, input_tokens: inputTokens, output_tokens: outputTokens, cost_usd: costUsd };
}

export function usageRoutes({ store }: Pick<ApiDeps, 'store'>) {
  const api = new Hono();

  api.get('/usage', async (c) => {
    const q = parse(usageQuery, c.req.query());
    const since = new Date(startOfUtcDay(new Date()).getTime() - (q.days - 1) * 86_400_000);
    const report = (groupBy: (typeof USAGE_GROUPS)[number][]) => store.usageReport({ since, groupBy }).then((rows) => rows.map(presentUsage));
    const [[totals], byDay, byAgent, byProvider, byTenant, rows] = await Promise.all([
      report([]),
      report(['day']),
      report(['agent']),
      report(['provider']),
      report(['tenant']),
      q.group ? report(q.group) : undefined,
    ]);
    return c.json({
      since: since.toISOString(),
      days: q.days,
      totals,
      by_day: byDay,
      by_agent: byAgent,
      by_provider: byProvider,
      by_tenant: byTenant,
      ...(rows ? { group: q.group, rows } : {}),
    });
  });

  return api;
}
