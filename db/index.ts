/** The database module's public face: open it, then use the Store. Nothing here knows a channel. */
import { sql } from 'drizzle-orm';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Envelope } from '../src/types.ts';
import { listAgentRows, isAgentEnabled, seedAgents, setAgentEnabled } from './agents.ts';
import { MIGRATIONS_FOLDER, migrationsApplied, openDatabase, type DatabaseHandle, type OpenOptions } from './client.ts';
import { tryLeadership } from './leader.ts';
import { getConversation, historyFor } from './conversations.ts';
import {
  countsSince,
  createReplay,
  deferExecution,
  getExecution,
  listExecutions,
  markFailed,
  markLost,
  markSucceeded,
  queueDepth,
  recentFailures,
  recordResult,
  startAttempt,
  type ExecutionFilter,
  type TenantScope,
} from './executions.ts';
import { feedbackSummary, latestRateableExecution, upsertFeedback, voteTarget, type FeedbackVote } from './feedback.ts';
import { ingestEnvelope, type Routed } from './ingest.ts';
import { startQueue, type Queue, type QueueOptions } from './queue.ts';
import { generatedAdminToken, readSetting, writeSetting } from './settings.ts';
import { latestHealthChecks, purgeOld, recordHealthChecks, type HealthCheck } from './maintenance.ts';
import { createRoute, deleteRoute, listRoutes, matchRoutes, type NewRoute } from './routes.ts';
import { usageReport, usageSince, type UsageGroup } from './usage.ts';
import { acquireReviewLease, knownFingerprints, lastReviewedHead, recordReview, releaseReviewLease } from './review-state.ts';

export { DataDirInUseError } from './lock.ts';
export type { ExecutionRow, ExecutionFilter, TenantScope } from './executions.ts';
export type { VoteTarget } from './feedback.ts';
export type { IngestResult, Routed } from './ingest.ts';
export type { NewRoute, RouteRow } from './routes.ts';
export { eventMatches } from './routes.ts';
export type { DatabaseHandle } from './client.ts';
export type { Leadership } from './leader.ts';
export type { ExecutionJob } from './queue.ts';
export type { HealthCheck } from './maintenance.ts';
export { USAGE_GROUPS } from './usage.ts';
export type { UsageGroup, UsageRow } from './usage.ts';

const EXPECTED_MIGRATIONS = (
  JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }
).entries.length;

export type Store = ReturnType<typeof createStore>;

/** Binds every query to one open database and queue. */
export function createStore(handle: DatabaseHandle, queue: Queue) {
  const db = handle.db;
  return {
    kind: handle.kind,
    queue,
    ingest: (envelope: Envelope, targets: Routed[]) => ingestEnvelope(db, queue, envelope, targets),
    listRoutes: () => listRoutes(db),
    createRoute: (route: NewRoute) => createRoute(db, route),
    deleteRoute: (id: string) => deleteRoute(db, id),
    matchRoutes: (source: string, type: string | undefined) => matchRoutes(db, source, type),
    getExecution: (id: string) => getExecution(db, id),
    listExecutions: (filter: ExecutionFilter) => listExecutions(db, filter),
    startAttempt: (id: string) => startAttempt(db, id),
    recordResult: (...a: Parameters<typeof recordResult> extends [unknown, ...infer R] ? R : never) => recordResult(db, ...a),
    markSucceeded: (id: string, latencyMs: number) => markSucceeded(db, id, latencyMs),
    markLost: (id: string, error: string) => markLost(db, id, error),
    defer: (id: string, reason: string, seconds: number, deferrals: number) => deferExecution(db, queue, id, reason, seconds, deferrals),
    markFailed: (id: string, error: string, dead: boolean, latencyMs: number) => markFailed(db, id, error, dead, latencyMs),
    replay: (id: string) => createReplay(db, queue, id),
    queueDepth: () => queueDepth(db),
    /** Without `scope`, every tenant's. */
    countsSince: (since: Date, scope?: TenantScope) => countsSince(db, since, scope),
    /** Without `scope`, every tenant's. */
    recentFailures: (limit: number, scope?: TenantScope) => recentFailures(db, limit, scope),
    getConversation: (id: string) => getConversation(db, id),
    history: (conversationId: string, beforeMessageId: string | null, limit?: number) => historyFor(db, conversationId, beforeMessageId, limit),
    seedAgents: (names: readonly string[]) => seedAgents(db, names),
    listAgents: () => listAgentRows(db),
    isAgentEnabled: (name: string) => isAgentEnabled(db, name),
    setAgentEnabled: (name: string, enabled: boolean) => setAgentEnabled(db, name, enabled),
    upsertFeedback: (vote: FeedbackVote) => upsertFeedback(db, vote),
    latestRateableExecution: (conversationId: string) => latestRateableExecution(db, conversationId),
    voteTarget: (executionId: string) => voteTarget(db, executionId),
    feedbackSummary: () => feedbackSummary(db),
    generatedAdminToken: () => generatedAdminToken(db),
    setting: (key: string) => readSetting(db, key),
    putSetting: (key: string, value: string) => writeSetting(db, key, value),
    /** Takes the leader lock `name` unless another process holds it (see db/leader.ts). */
    tryLeadership: (name: string) => tryLeadership(handle, name),
    recordHealthChecks: (checks: HealthCheck[]) => recordHealthChecks(db, checks),
    latestHealthChecks: () => latestHealthChecks(db),
    purgeOld: (opts: { deliveriesBefore: Date; healthChecksBefore: Date }) => purgeOld(db, opts),
    usageReport: (opts: { since: Date; groupBy: readonly UsageGroup[] }) => usageReport(db, opts),
    usageSince: (scope: { tenantId: string; channel: string; userId: string; since: Date }) => usageSince(db, scope),
    lastReviewedHead: (repo: string, pr: number) => lastReviewedHead(db, repo, pr),
    knownFingerprints: (repo: string, pr: number, fingerprints: string[]) => knownFingerprints(db, repo, pr, fingerprints),
    recordReview: (review: Parameters<typeof recordReview>[1]) => recordReview(db, review),
    acquireReviewLease: (repo: string, pr: number, holder: string, seconds: number) => acquireReviewLease(db, repo, pr, holder, seconds),
    releaseReviewLease: (repo: string, pr: number, holder: string) => releaseReviewLease(db, repo, pr, holder),
    /** Readiness: the database answers and every migration in drizzle/ is applied. */
    async ready(): Promise<{ database: boolean; migrations: boolean; error?: string }> {
      try {
        await db.execute(sql`select 1`);
      } catch (err) {
        return { database: false, migrations: false, error: (err as Error).message };
      }
      try {
        return { database: true, migrations: await migrationsApplied(db, EXPECTED_MIGRATIONS) };
      } catch (err) {
        return { database: true, migrations: false, error: (err as Error).message };
      }
    },
  };
}

export type OpenedStore = { store: Store; handle: DatabaseHandle; close(graceful?: boolean): Promise<void> };

/** The settings table alone, without the queue: for operator commands that only read or record a setting. */
export async function openSettings(opts: OpenOptions) {
  const handle = await openDatabase(opts);
  return {
    get: (key: string) => readSetting(handle.db, key),
    put: (key: string, value: string) => writeSetting(handle.db, key, value),
    close: () => handle.close(),
  };
}

/** Opens the database, migrates, starts the queue, and returns a Store bound to both. */
export async function openStore(opts: OpenOptions & { queue: Omit<QueueOptions, 'databaseUrl' | 'poolSize'> }): Promise<OpenedStore> {
  const handle = await openDatabase(opts);
  let queue: Queue;
  try {
    queue = await startQueue(handle, { ...opts.queue, databaseUrl: opts.databaseUrl, poolSize: Math.max(2, Math.ceil((opts.poolSize ?? 10) / 2)) });
  } catch (err) {
    await handle.close();
    throw err;
  }
  return {
    store: createStore(handle, queue),
    handle,
    async close(graceful = true) {
      try {
        await queue.stop(graceful, 10_000);
      } finally {
        await handle.close();
      }
    },
  };
}
