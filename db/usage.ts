/**
 * Language-model usage, read from the execution log: reports by day, agent, provider, tenant (and model,
 * channel), and today's totals per tenant and per user for budgets. No table of its own: executions
 * already record provider, model, tokens and cost, and one source of truth keeps reports and budgets agreeing.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Db } from './client.ts';
import { rowsOf } from './rows.ts';
import { executions } from './schema.ts';

export const USAGE_GROUPS = ['day', 'agent', 'provider', 'tenant', 'model', 'channel'] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];

export type UsageTotals = { executions: number; inputTokens: number; outputTokens: number; costUsd: number };
export type UsageRow = Partial<Record<UsageGroup, string>> & UsageTotals;

const COLUMN: Record<UsageGroup, SQL> = {
  day: sql`to_char(${executions.createdAt} at time zone 'UTC', 'YYYY-MM-DD')`,
  agent: sql`${executions.agent}`,
  provider: sql`${executions.provider}`,
  tenant: sql`${executions.tenantId}`,
  model: sql`${executions.model}`,
  channel: sql`${executions.channel}`,
};

type Raw = Record<string, unknown> & { executions: number; input_tokens: number; output_tokens: number; cost_usd: number };

const totals = (r: Raw): UsageTotals => ({
  executions: Number(r.executions),
  inputTokens: Number(r.input_tokens),
  outputTokens: Number(r.output_tokens),
  costUsd: Math.round(Number(r.cost_usd) * 1_000_000) / 1_000_000,
});

/** Executions that called a model since `since` (UTC days), grouped by `groupBy` (none: one total row). */
export async function usageReport(db: Db, opts: { since: Date; groupBy: readonly UsageGroup[] }): Promise<UsageRow[]> {
  const keys = opts.groupBy.map((g) => sql`${COLUMN[g]} as ${sql.identifier(g)}`);
  const select = sql.join(
    [
      ...keys,
      sql`count(*)::int as executions`,
      sql`coalesce(sum(${executions.inputTokens}), 0)::float8 as input_tokens`,
      sql`coalesce(sum(${executions.outputTokens}), 0)::float8 as output_tokens`,
      sql`coalesce(sum(${executions.costUsd}), 0)::float8 as cost_usd`,
    ],
    sql`, `,
  );
  const grouped = opts.groupBy.length > 0;
  const positions = sql.raw(opts.groupBy.map((_, i) => String(i + 1)).join(', '));
  const rows = rowsOf<Raw>(
    await db.execute(sql`
      select ${select} from ${executions}
      where ${executions.createdAt} >= ${opts.since.toISOString()} and ${executions.provider} is not null
      ${grouped ? sql`group by ${positions} order by ${positions}` : sql``}`),
  );
  return rows.map((r) => {
    const row: UsageRow = totals(r);
    for (const g of opts.groupBy) row[g] = r[g] === null ? '' : String(r[g]);
    return row;
  });
}

/**
 * Provider tokens and cost since `since` for one tenant (within its channel) and one user (within the
 * channel). Offline answers cost nothing and are left out, so answering over-budget users offline does
 * not dig them deeper.
 */
export async function usageSince(db: Db, scope: { tenantId: string; channel: string; userId: string; since: Date }) {
  const tenant = sql`${executions.tenantId} = ${scope.tenantId}`;
  const user = sql`${executions.userId} = ${scope.userId}`;
  const tokens = sql`coalesce(${executions.inputTokens}, 0) + coalesce(${executions.outputTokens}, 0)`;
  const [row] = rowsOf<{ tenant_tokens: number; tenant_cost: number; user_tokens: number; user_cost: number }>(
    await db.execute(sql`
      select
        coalesce(sum(${tokens}) filter (where ${tenant}), 0)::float8 as tenant_tokens,
        coalesce(sum(${executions.costUsd}) filter (where ${tenant}), 0)::float8 as tenant_cost,
        coalesce(sum(${tokens}) filter (where ${user}), 0)::float8 as user_tokens,
        coalesce(sum(${executions.costUsd}) filter (where ${user}), 0)::float8 as user_cost
      from ${executions}
      where ${executions.createdAt} >= ${scope.since.toISOString()}
        and ${executions.channel} = ${scope.channel}
        and ${executions.provider} is not null and ${executions.provider} <> 'offline'
        and (${tenant} or ${user})`),
  );
  return {
    tenant: { tokens: Number(row?.tenant_tokens ?? 0), costUsd: Number(row?.tenant_cost ?? 0) },
    user: { tokens: Number(row?.user_tokens ?? 0), costUsd: Number(row?.user_cost ?? 0) },
  };
}
