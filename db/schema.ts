/** Drizzle schema: the tables of ARCHITECTURE §7. Migrations in drizzle/ are generated from this file. */
import { sql } from 'drizzle-orm';
import type { Delivered } from '../src/types.ts';
import { boolean, check, index, integer, jsonb, numeric, pgTable, smallint, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

/** One row per platform delivery: the dedup key. A retry of the same delivery conflicts here. */
export const deliveries = pgTable(
  'deliveries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    channel: text('channel').notNull(),
    deliveryId: text('delivery_id').notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('deliveries_channel_delivery_id_key').on(t.channel, t.deliveryId), index('deliveries_received_at_idx').on(t.receivedAt)],
);

export const conversations = pgTable(
  'conversations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    channel: text('channel').notNull(),
    conversationKey: text('conversation_key').notNull(),
    tenantId: text('tenant_id').notNull(),
    createdAt: createdAt(),
  },
  // A key is the source's own text: two tenants may use the same one, each for a conversation of its own.
  (t) => [uniqueIndex('conversations_channel_tenant_key_key').on(t.channel, t.tenantId, t.conversationKey)],
);

export const messages = pgTable(
  'messages',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    role: text('role', { enum: ['user', 'assistant'] }).notNull(),
    userId: text('user_id'),
    userName: text('user_name'),
    text: text('text').notNull(),
    executionId: uuid('execution_id'),
    /**
     * A vote and not conversation: the message of a feedback execution (a typed "+1", a 👍 click) or that execution's
     * acknowledgement. Set when the message is written, so history reads leave votes out without a lookup per message.
     */
    vote: boolean('vote').notNull().default(false),
    createdAt: createdAt(),
  },
  // In the order history reads a conversation (newest first, id breaking ties within one commit), so a read stops
  // after the messages it returns.
  (t) => [index('messages_conversation_idx').on(t.conversationId, t.createdAt, t.id)],
);

export const executions = pgTable(
  'executions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    messageId: uuid('message_id').references(() => messages.id, { onDelete: 'set null' }),
    deliveryId: uuid('delivery_id').references(() => deliveries.id, { onDelete: 'set null' }),
    replayOf: uuid('replay_of'),
    channel: text('channel').notNull(),
    tenantId: text('tenant_id').notNull(),
    userId: text('user_id').notNull(),
    agent: text('agent').notNull(),
    intent: text('intent').notNull(),
    args: jsonb('args').$type<Record<string, unknown>>().notNull().default({}),
    envelope: jsonb('envelope').$type<Record<string, unknown>>().notNull(),
    status: text('status', { enum: ['queued', 'running', 'succeeded', 'failed', 'dead'] })
      .notNull()
      .default('queued'),
    attempts: integer('attempts').notNull().default(0),
    provider: text('provider'),
    model: text('model'),
    inputTokens: integer('input_tokens'),
    outputTokens: integer('output_tokens'),
    costUsd: numeric('cost_usd', { precision: 12, scale: 6, mode: 'number' }),
    latencyMs: integer('latency_ms'),
    error: text('error'),
    promptHash: text('prompt_hash'),
    result: jsonb('result').$type<Record<string, unknown>>(),
    /** Where the reply goes when a routing rule sent it elsewhere; null means back to where it came from. */
    destination: jsonb('destination').$type<{ channel: string; target: string }>(),
    routeId: uuid('route_id'),
    replyMessageId: uuid('reply_message_id'),
    /** The parts of the reply already delivered (and the first one's anchor): a retry in any process continues after them. */
    delivered: jsonb('delivered').$type<Delivered>(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull(),
    createdAt: createdAt(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    repliedAt: timestamp('replied_at', { withTimezone: true }),
  },
  (t) => [
    index('executions_created_idx').on(t.createdAt),
    index('executions_status_idx').on(t.status, t.createdAt),
    index('executions_conversation_idx').on(t.conversationId, t.createdAt),
    index('executions_delivery_idx').on(t.deliveryId),
    // The per-person hourly quota counts a person's recent executions.
    index('executions_user_idx').on(t.channel, t.userId, t.createdAt),
  ],
);

export const feedback = pgTable(
  'feedback',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    executionId: uuid('execution_id')
      .notNull()
      .references(() => executions.id, { onDelete: 'cascade' }),
    userId: text('user_id').notNull(),
    channel: text('channel').notNull(),
    score: smallint('score').notNull(),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('feedback_execution_user_key').on(t.executionId, t.userId), check('feedback_score_check', sql`${t.score} in (-1, 1)`)],
);

export const agents = pgTable('agents', {
  name: text('name').primaryKey(),
  enabled: boolean('enabled').notNull().default(true),
  /** The role a person needs to run the agent (`admin` or `member`); trusted systems hold `admin`. */
  requiredRole: text('required_role', { enum: ['admin', 'member'] })
    .notNull()
    .default('member'),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Small key/value facts that must survive restarts and be shared by every process (the generated admin token). */
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
  createdAt: createdAt(),
});

/** Webhook-to-chat routing: an event from `source` (optionally of type `event`) runs `agent` and posts to `destination`. */
export const routes = pgTable(
  'routes',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    source: text('source').notNull(),
    event: text('event'),
    agent: text('agent').notNull(),
    destination: jsonb('destination').$type<{ channel: string; target: string }>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('routes_source_idx').on(t.source)],
);

/** Results of the scheduled health check (database, queue, providers), shown by the status agent. */
export const healthChecks = pgTable(
  'health_checks',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    component: text('component').notNull(),
    ok: boolean('ok').notNull(),
    detail: text('detail'),
    latencyMs: integer('latency_ms'),
    checkedAt: timestamp('checked_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('health_checks_component_idx').on(t.component, t.checkedAt)],
);

/**
 * What code review remembers per pull request, shared by every process: one row per comment already made
 * (its fingerprint: path + line content + normalized body) and one `head:<sha>` row per reviewed head commit.
 * The last reviewed head is derived: the head_sha of the newest row. A `lease:` row per pull request holds its review
 * lease (`locked_until`, `locked_by`), so one execution at a time checks fingerprints, posts and records.
 */
export const reviewState = pgTable(
  'review_state',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    repo: text('repo').notNull(),
    pr: integer('pr').notNull(),
    fingerprint: text('fingerprint').notNull(),
    headSha: text('head_sha').notNull(),
    executionId: uuid('execution_id'),
    createdAt: createdAt(),
    /** On a pull request's lease row: until when `locked_by` (an execution) may post its review alone. */
    lockedUntil: timestamp('locked_until', { withTimezone: true }),
    lockedBy: uuid('locked_by'),
  },
  (t) => [uniqueIndex('review_state_repo_pr_fingerprint_key').on(t.repo, t.pr, t.fingerprint), index('review_state_repo_pr_idx').on(t.repo, t.pr, t.createdAt)],
);

/**
 * Access rules kept in the database, on top of `<CHANNEL>_ALLOW` / `_ADMINS`: `allow` a person or a place (chat,
 * channel, team, repository), `deny` one (wins over every allow), or make a person `admin`.
 */
export const accessRules = pgTable(
  'access_rules',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    channel: text('channel').notNull(),
    kind: text('kind', { enum: ['allow', 'deny', 'admin'] }).notNull(),
    subject: text('subject').notNull(),
    note: text('note'),
    createdBy: text('created_by').notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('access_rules_channel_kind_subject_key').on(t.channel, t.kind, sql`lower(${t.subject})`)],
);

/** Pending pairings: one one-time code per unknown person (or group chat), until approved or expired. */
export const accessPairings = pgTable(
  'access_pairings',
  {
    code: text('code').primaryKey(),
    channel: text('channel').notNull(),
    subject: text('subject').notNull(),
    scope: text('scope', { enum: ['person', 'chat'] }).notNull(),
    userName: text('user_name'),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [uniqueIndex('access_pairings_channel_subject_key').on(t.channel, t.subject), index('access_pairings_expires_idx').on(t.expiresAt)],
);

/** Who changed access, what, and when: bounded to the newest rows (see db/access.ts). */
export const accessAudit = pgTable(
  'access_audit',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    actor: text('actor').notNull(),
    action: text('action').notNull(),
    channel: text('channel'),
    subject: text('subject'),
    detail: text('detail'),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('access_audit_at_idx').on(t.at)],
);
