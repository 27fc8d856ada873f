/** The database module's public face: open it, then use the Store. Nothing here knows a channel. */
import { sql } from 'drizzle-orm';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseUnavailableError } from '../src/errors.ts';
import type { Logger } from '../src/ports.ts';
import type { Delivered, Envelope, Reply, Usage } from '../src/types.ts';
import { listAgentRows, seedAgents, setAgentEnabled } from './agents.ts';
import { MIGRATIONS_FOLDER, migrationsApplied, openDatabase, type DatabaseHandle, type OpenOptions } from './client.ts';
import { tryLeadership } from './leader.ts';
import { conversationKeyOf, getConversation, historyFor, listConversations, type ConversationFilter } from './conversations.ts';
import {
  countsSince,
  createReplay,
  deferExecution,
  getExecution,
  listExecutions,
  markFailed,
  markLost,
  markSucceededMany,
  queueDepth,
  recentFailures,
  recordDelivered,
  recordResults,
  startAttempts,
  type Answer,
  type ExecutionFilter,
  type StartedExecution,
  type Success,
  type TenantScope,
} from './executions.ts';
import { conversationFeedback, feedbackSummary, latestRateableExecution, upsertFeedback, voteTarget, type FeedbackVote } from './feedback.ts';
import { createGroupCommit } from './group-commit.ts';
import { ingestBatch, StoreSingly, type Assignment, type IngestItem, type IngestResult, type OverQuota, type Quota } from './ingest.ts';
import type { AccessStore } from '../src/access/index.ts';
import { createSignalledCache } from './signalled-cache.ts';
import {
  accessStore,
  requiredRoles,
  addRule,
  approvePairing,
  deletePairing,
  deleteRule,
  listAudit,
  listPairings,
  listRules,
  setRequiredRole,
} from './access.ts';
import { classifyDatabaseError, createDatabaseHealth, type DatabaseHealth } from './health.ts';
import { startQueue, type Queue, type QueueOptions } from './queue.ts';
import { ADMIN_TOKEN_HASH_SETTING, ensureAdminToken, hashLegacyAdminToken, readSetting, rotateAdminToken, writeSetting } from './settings.ts';
import { latestHealthChecks, purgeOld, recordHealthChecks, type HealthCheck } from './maintenance.ts';
import * as rules from './rules.ts';
import { usageReport, usageSince, type UsageGroup } from './usage.ts';
import { activitySeries, agentActivity } from './activity.ts';
import { acquireReviewLease, knownFingerprints, lastReviewedHead, recordReview, releaseReviewLease } from './review-state.ts';

export { DataDirInUseError } from './lock.ts';
export { DataDirUnsafeError } from './data-dir.ts';
export type { Answer, ExecutionRow, ExecutionFilter, StartedExecution, Success, TenantScope } from './executions.ts';
export type { ConversationFilter, ConversationRow } from './conversations.ts';
export { decodeCursor } from './paging.ts';
export type { VoteTarget } from './feedback.ts';
export type { IngestResult, OverQuota, Quota, Assignment } from './ingest.ts';
export { AUDIT_ROWS } from './access.ts';
export type { NewRule, RuleRow } from './rules.ts';
export { eventMatches } from './rules.ts';
export type { DatabaseHandle } from './client.ts';
export type { Leadership } from './leader.ts';
export type { ExecutionJob } from './queue.ts';
export type { HealthCheck } from './maintenance.ts';
export type { DatabaseHealth, HealthSnapshot } from './health.ts';
export { classifyDatabaseError } from './health.ts';
export { USAGE_GROUPS } from './usage.ts';
export type { ActivityBucket, AgentActivity } from './activity.ts';
export type { UsageGroup, UsageRow } from './usage.ts';

const EXPECTED_MIGRATIONS = (JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }).entries.length;

export type Store = ReturnType<typeof createStore>;

/** A batch is stored when it holds this many envelopes... */
const INGEST_BATCH_ITEMS = 64;
/**
 * ...or this long after its first envelope arrived. Batches are not limited in number: at 50 connections on two
 * cores, holding later batches back while one or two are written (or waiting 2 ms) left them at 7–8 envelopes
 * per commit, as without; the processes' CPU sets the pace there, not the database's commits.
 */
const INGEST_BATCH_WAIT_MS = 1;
/** The same for workers' start (with its history read), answer and success writes. */
const WORKER_BATCH_ITEMS = 64;
const WORKER_BATCH_WAIT_MS = 1;

/**
 * Binds every query to one open database and queue. Each call is one unit of database work and passes
 * through `health.guard`: refused at once while the database is down, a bounded wait for a connection,
 * and a lost connection turned into a 503 `database_unavailable` (see db/health.ts).
 */
export function createStore(handle: DatabaseHandle, queue: Queue, health: DatabaseHealth) {
  const db = handle.db;
  let migrationsSeen = false;
  const ruleCache = rules.createRuleCache(handle);
  // Access rules and agents' required roles are read for every message from a person; they change rarely.
  const accessCache = createSignalledCache(handle, 'switchboard_access', () =>
    health.guard(async () => ({ rules: await listRules(db), roles: await requiredRoles(db) })),
  );
  /** A write to access rules or agents' roles, after which every process reads them again. */
  const accessChanges = async <T>(write: Promise<T>): Promise<T> => {
    const result = await write;
    await accessCache.changed();
    return result;
  };
  const stored = guarded(accessStore(db), health);
  const accessPort: AccessStore = {
    ...stored,
    async rulesFor(channel, subjects) {
      const lowered = new Set(subjects.map((s) => s.toLowerCase()));
      return (await accessCache.get()).rules.filter((r) => r.channel === channel && lowered.has(r.subject.toLowerCase()));
    },
    requiredRoles: async () => (await accessCache.get()).roles,
  };
  // Each batch is one guarded unit of work: a request waiting for its batch holds no connection permit.
  const ingest = createGroupCommit<IngestItem, IngestResult | OverQuota>({
    maxItems: INGEST_BATCH_ITEMS,
    maxWaitMs: INGEST_BATCH_WAIT_MS,
    write: (items) => health.guard(() => ingestBatch(db, queue, items)),
    retrySingly: (err) => err instanceof StoreSingly || retryUnlessDown(err),
  });
  // Workers' start and success writes of concurrent executions share a statement and a commit too.
  const retryUnlessDown = (err: unknown) => classifyDatabaseError(err) === undefined && !(err instanceof DatabaseUnavailableError);
  /** A worker write shared by concurrent executions: one statement over the batch, one result per item. */
  const workerBatch = <T, R>(write: (items: T[]) => Promise<R[]>, maxWaitMs = WORKER_BATCH_WAIT_MS) =>
    createGroupCommit<T, R>({
      maxItems: WORKER_BATCH_ITEMS,
      maxWaitMs,
      write: (items) => health.guard(() => write(items)),
      retrySingly: retryUnlessDown,
    });
  // The jobs of one fetch start in the same turn of the event loop: their batch goes at once, without a wait.
  const startAttempt = workerBatch<string, StartedExecution | undefined>((ids) => startAttempts(db, ids), 0);
  const recordResult = workerBatch<Answer, void>(async (answers) => {
    await recordResults(db, answers);
    return answers.map(() => undefined);
  });
  const markSucceeded = workerBatch<Success, void>(async (done) => {
    await markSucceededMany(db, done);
    return done.map(() => undefined);
  });
  // Every execution asks whether its agent is enabled; agents change rarely (an operator's switch).
  const agentCache = createSignalledCache(handle, 'switchboard_agents', () => health.guard(() => listAgentRows(db)));
  /** A write to the agents table, after which every process reads it again. */
  const agentChanges = async <T>(write: Promise<T>): Promise<T> => {
    const result = await write;
    await agentCache.changed();
    return result;
  };
  const calls = {
    listAccessRules: () => listRules(db),
    listPairings: (now: Date) => listPairings(db, now),
    listAccessAudit: (limit: number) => listAudit(db, limit),
    addAccessRule: (rule: Parameters<typeof addRule>[1]) => accessChanges(addRule(db, rule)),
    deleteAccessRule: (id: string, actor: string) => accessChanges(deleteRule(db, id, actor)),
    approvePairing: (code: string, actor: string, now: Date) => accessChanges(approvePairing(db, code, actor, now)),
    rejectPairing: (code: string, actor: string) => deletePairing(db, code, actor),
    setRequiredRole: (name: string, role: 'admin' | 'member', actor: string) => agentChanges(accessChanges(setRequiredRole(db, name, role, actor))),
    listRules: () => rules.listRules(db),
    createRule: async (rule: rules.NewRule) => {
      const row = await rules.createRule(db, rule);
      await ruleCache.changed();
      return row;
    },
    deleteRule: async (id: string) => {
      const deleted = await rules.deleteRule(db, id);
      if (deleted) await ruleCache.changed();
      return deleted;
    },
    /** Rules for a canonical hook source, from memory (see createRuleCache). */
    matchRules: (source: string, type: string | undefined) => ruleCache.match(source, type),
    /** Tells every process the routing rules changed (after writing them other than through createRule/deleteRule). */
    rulesChanged: () => ruleCache.changed(),
    getExecution: (id: string) => getExecution(db, id),
    /** The conversation before a message, oldest first, as an agent sees it (an attempt's start reads it too). */
    history: (conversationId: string, beforeMessageId: string | null) => historyFor(db, conversationId, beforeMessageId),
    listExecutions: (filter: ExecutionFilter) => listExecutions(db, filter),
    recordDelivered: (id: string, delivered: Delivered) => recordDelivered(db, id, delivered),
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
    listConversations: (filter: ConversationFilter) => listConversations(db, filter),
    conversationKeyOf: (channel: string, tenantId: string, id: string) => conversationKeyOf(db, channel, tenantId, id),
    seedAgents: (list: readonly (string | { name: string; requiredRole?: 'admin' | 'member' })[]) => agentChanges(accessChanges(seedAgents(db, list))),
    setAgentEnabled: (name: string, enabled: boolean) => agentChanges(setAgentEnabled(db, name, enabled)),
    upsertFeedback: (vote: FeedbackVote) => upsertFeedback(db, vote),
    latestRateableExecution: (conversationId: string) => latestRateableExecution(db, conversationId),
    voteTarget: (executionId: string) => voteTarget(db, executionId),
    feedbackSummary: () => feedbackSummary(db),
    conversationFeedback: (conversationId: string) => conversationFeedback(db, conversationId),
    ensureAdminToken: (candidate: string) => ensureAdminToken(db, candidate),
    adminTokenHash: () => readSetting(db, ADMIN_TOKEN_HASH_SETTING),
    /** Turns a generated token stored in clear by earlier versions into its hash. */
    hashLegacyAdminToken: () => hashLegacyAdminToken(db),
    setting: (key: string) => readSetting(db, key),
    putSetting: (key: string, value: string) => writeSetting(db, key, value),
    /** Takes the leader lock `name` unless another process holds it (see db/leader.ts). */
    tryLeadership: (name: string) => tryLeadership(handle, name),
    recordHealthChecks: (checks: HealthCheck[]) => recordHealthChecks(db, checks),
    latestHealthChecks: () => latestHealthChecks(db),
    purgeOld: (opts: { deliveriesBefore: Date; healthChecksBefore: Date }) => purgeOld(db, opts),
    usageReport: (opts: { since: Date; groupBy: readonly UsageGroup[] }) => usageReport(db, opts),
    /** The console: per-agent outcomes and executions/failures over time (db/activity.ts). */
    agentActivity: (since: Date) => agentActivity(db, since),
    activitySeries: (since: Date, bucketSeconds: number) => activitySeries(db, since, bucketSeconds),
    usageSince: (scope: { tenantId: string; channel: string; userId: string; since: Date }) => usageSince(db, scope),
    lastReviewedHead: (repo: string, pr: number) => lastReviewedHead(db, repo, pr),
    knownFingerprints: (repo: string, pr: number, fingerprints: string[]) => knownFingerprints(db, repo, pr, fingerprints),
    recordReview: (review: Parameters<typeof recordReview>[1]) => recordReview(db, review),
    acquireReviewLease: (repo: string, pr: number, holder: string, seconds: number) => acquireReviewLease(db, repo, pr, holder, seconds),
    releaseReviewLease: (repo: string, pr: number, holder: string) => releaseReviewLease(db, repo, pr, holder),
  };
  return {
    kind: handle.kind,
    queue,
    health,
    ...guarded(calls, health),
    /** Stores an envelope with its executions (joining the current batch), or recognizes a duplicate. */
    ingest: (envelope: Envelope, targets: Assignment[], quota?: Quota) => ingest({ envelope, targets, ...(quota ? { quota } : {}) }),
    /** Claims an attempt and reads its history (see startAttempts); undefined when the execution has already finished. */
    startAttempt,
    /** Stores an agent's answer and its assistant message (joining the current batch); delivery comes after. */
    recordResult: (execution: Answer['execution'], reply: Reply, usage: Usage | undefined) => recordResult({ execution, reply, usage }),
    /**
     * Final success: the reply is delivered (how far delivery got rides along), or the channel has nowhere to deliver,
     * in which case the answer not stored yet rides along too (see Success).
     */
    markSucceeded,
    /** The agents table (name, enabled, required role), from memory (see createSignalledCache). */
    listAgents: () => agentCache.get(),
    isAgentEnabled: async (name: string) => (await agentCache.get()).find((a) => a.name === name)?.enabled ?? false,
    /** The access policy's storage port (src/access). */
    access: accessPort,
    /** Readiness: the database answers and every migration in drizzle/ is applied. */
    async ready(): Promise<{ database: boolean; migrations: boolean; busy?: boolean; error?: string }> {
      try {
        await health.guard(() => db.execute(sql`select 1`));
      } catch (err) {
        // Every connection taken is load, not an outage: stay in rotation, with the migrations last seen.
        if (health.up && classifyDatabaseError(err) === 'busy') return { database: true, migrations: migrationsSeen, busy: true };
        return { database: false, migrations: false, error: health.snapshot().error ?? (err as Error).message };
      }
      try {
        migrationsSeen = await health.guard(() => migrationsApplied(db, EXPECTED_MIGRATIONS));
        return { database: true, migrations: migrationsSeen };
      } catch (err) {
        return { database: true, migrations: false, error: (err as Error).message };
      }
    },
  };
}

/** The same functions, each run as one guarded unit of database work. */
function guarded<T extends Record<string, (...args: never[]) => Promise<unknown>>>(calls: T, health: DatabaseHealth): T {
  return Object.fromEntries(Object.entries(calls).map(([name, fn]) => [name, (...args: never[]) => health.guard(() => fn(...args))])) as T;
}

export type OpenedStore = { store: Store; handle: DatabaseHandle; close(graceful?: boolean): Promise<void> };

/** The settings table alone, without the queue: for operator commands that only read or record a setting. */
export async function openSettings(opts: OpenOptions) {
  const handle = await openDatabase(opts);
  return {
    get: (key: string) => readSetting(handle.db, key),
    put: (key: string, value: string) => writeSetting(handle.db, key, value),
    rotateAdminToken: (token: string) => rotateAdminToken(handle.db, token),
    close: () => handle.close(),
  };
}

export type StoreOptions = OpenOptions & {
  queue: Omit<QueueOptions, 'databaseUrl' | 'poolSize' | 'health' | 'connectTimeoutSeconds'>;
  /** How long a call may wait for a connection before it is refused with 503 (default 3000 ms). */
  acquireTimeoutMs?: number;
  /** Where the outage's one warn line and one info line go. */
  logger?: Logger;
};

/** Opens the database, migrates, starts the queue, and returns a Store bound to both. */
export async function openStore(opts: StoreOptions): Promise<OpenedStore> {
  const handle = await openDatabase(opts);
  const poolSize = opts.poolSize ?? 10;
  const health = createDatabaseHealth({
    logger: opts.logger,
    // PGlite is one connection: the permits bound how many calls queue inside it, and so how long one waits.
    permits: poolSize,
    acquireTimeoutMs: opts.acquireTimeoutMs ?? 3000,
    probe: async () => {
      await handle.db.execute(sql`select 1`);
    },
  });
  let queue: Queue;
  const queueStarted = performance.now();
  try {
    queue = await startQueue(handle, {
      ...opts.queue,
      health,
      databaseUrl: opts.databaseUrl,
      poolSize: Math.max(2, Math.ceil(poolSize / 2)),
      connectTimeoutSeconds: opts.connectTimeoutSeconds,
    });
  } catch (err) {
    health.close();
    await handle.close();
    throw err;
  }
  if (opts.phases) opts.phases.queue = Math.round(performance.now() - queueStarted);
  return {
    store: createStore(handle, queue, health),
    handle,
    async close(graceful = true) {
      health.close();
      try {
        await queue.stop(graceful, 10_000);
      } finally {
        await handle.close();
      }
    },
  };
}
