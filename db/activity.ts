/**
 * The console's numbers, read from the execution log: per-agent runs, outcomes, median latency and cost, and
 * executions and failures per time bucket. Both read one time range of executions through executions_created_idx.
 */
import { sql } from 'drizzle-orm';
import type { Db } from './client.ts';
import { rowsOf } from './rows.ts';
import { executions } from './schema.ts';

export type AgentActivity = { agent: string; runs: number; succeeded: number; failed: number; medianLatencyMs: number | null; costUsd: number };

/** Per agent since `since`: `failed` counts executions that failed or went dead (a retry still pending included). */
export async function agentActivity(db: Db, since: Date): Promise<AgentActivity[]> {
  const rows = rowsOf<{ agent: string; runs: number; succeeded: number; failed: number; median: number | null; cost: number }>(
    await db.execute(sql`
      select ${executions.agent} as agent, count(*)::int as runs,
        count(*) filter (where ${executions.status} = 'succeeded')::int as succeeded,
        count(*) filter (where ${executions.status} in ('failed', 'dead'))::int as failed,
        percentile_cont(0.5) within group (order by ${executions.latencyMs})::float8 as median,
        coalesce(sum(${executions.costUsd}), 0)::float8 as cost
      from ${executions} where ${executions.createdAt} >= ${since.toISOString()}
      group by 1 order by 1`),
  );
  return rows.map((r) => ({
    agent: r.agent,
    runs: Number(r.runs),
    succeeded: Number(r.succeeded),
    failed: Number(r.failed),
    medianLatencyMs: r.median === null ? null : Math.round(Number(r.median)),
    costUsd: Math.round(Number(r.cost) * 1_000_000) / 1_000_000,
  }));
}

export type ActivityBucket = { at: Date; executions: number; failures: number };

/** Executions and failures per `bucketSeconds` since `since`; buckets without any are left out (the chart fills them). */
export async function activitySeries(db: Db, since: Date, bucketSeconds: number): Promise<ActivityBucket[]> {
  const rows = rowsOf<{ at: string | Date; executions: number; failures: number }>(
    await db.execute(sql`
      select to_timestamp(floor(extract(epoch from ${executions.createdAt}) / ${bucketSeconds}) * ${bucketSeconds}) as at,
        count(*)::int as executions,
        count(*) filter (where ${executions.status} in ('failed', 'dead'))::int as failures
      from ${executions} where ${executions.createdAt} >= ${since.toISOString()}
      group by 1 order by 1`),
  );
  return rows.map((r) => ({ at: new Date(r.at), executions: Number(r.executions), failures: Number(r.failures) }));
}
