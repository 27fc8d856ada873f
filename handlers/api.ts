/** The admin API and the web channel under /api, behind the admin bearer token. */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { decodeCursor, USAGE_GROUPS, type Store, type UsageRow } from '../db/index.ts';
import type { AdminTokenCheck } from '../src/admin-token.ts';
import { AppError, BadRequestError, NotFoundError } from '../src/errors.ts';
import { isRefusal, PAIRING_CODE, type AccessRule, type Pairing } from '../src/access/index.ts';
import { ACCESS_MODES, accessIdProblem, canonicalHookSource, type AccessChannel, type ChannelAccess } from '../src/config.ts';
import type { Ingest } from '../src/pipeline/ingest.ts';
import { recordVote } from '../src/pipeline/votes.ts';
import type { Waiter } from '../src/pipeline/waiter.ts';
import type { Agent, ChannelAdapter } from '../src/ports.ts';
import { startOfUtcDay, type LiveReplies } from '../src/llm/index.ts';
import { rawRequest } from './channel.ts';
import { adminAuth, refuseUnstorableInput, requireContentType } from './middleware.ts';
import { presentExecution } from './present.ts';

export type ApiDeps = {
  store: Store;
  ingest: Ingest;
  waiter: Waiter;
  web: ChannelAdapter;
  agents: readonly Agent[];
  checkAdminToken: AdminTokenCheck;
  replyWaitSeconds: number;
  /** Channels that can receive routed replies (see ChannelRegistry.destinations), each checking its own addresses. */
  destinations(): { channel: string; enabled: boolean; requiredEnv: string[]; validateTarget?(target: string): string | undefined }[];
  /** Answers streaming in this process (GET /api/executions/:id/stream). */
  live: LiveReplies;
  /** The access settings from the environment (`<CHANNEL>_ACCESS`, `_ALLOW`, `_ADMINS`, QUOTA_PER_HOUR), shown by GET /api/access. */
  access: { channels: Record<AccessChannel, ChannelAccess>; quotaPerHour: number };
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new BadRequestError('invalid_request', result.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  }
  return result.data;
}

async function jsonBody(req: { text(): Promise<string> }): Promise<unknown> {
  const text = await req.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new AppError(400, 'malformed_json', 'Request body is not valid JSON');
  }
}

/**
 * A query-string schema: an empty parameter (`?status=&limit=`) counts as unset, as an empty variable does in the
 * configuration, so a form that submits every field still gets the defaults.
 */
function querySchema<T extends z.ZodRawShape>(shape: T) {
  const withoutEmpty = (query: unknown) =>
    query && typeof query === 'object' ? Object.fromEntries(Object.entries(query).filter(([, v]) => !(typeof v === 'string' && v.trim() === ''))) : query;
  return z.preprocess(withoutEmpty, z.object(shape));
}

// A page's `next_cursor`, given back as `?before=` for the page after it.
const cursor = z
  .string()
  .transform((text, ctx) => decodeCursor(text) ?? (ctx.addIssue({ code: 'custom', message: 'must be a next_cursor from an earlier page' }), z.NEVER));
// A time with its zone (a date alone is UTC midnight); a `+` left unencoded in a query string arrives as a space.
const isoTime = z
  .string()
  .transform((text) => text.replace(/ (\d{2}:?\d{2})$/, '+$1'))
  .pipe(z.string().regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/, 'must be an ISO 8601 time with its zone, such as 2026-01-31T09:00:00Z'))
  .transform((text, ctx) => {
    const at = new Date(text);
    // Date rolls 2026-02-31 over into March; a day past the month's end is a mistake to report.
    const [year, month, day] = text.slice(0, 10).split('-').map(Number) as [number, number, number];
    const real = !Number.isNaN(at.getTime()) && new Date(Date.UTC(year, month - 1, day)).getUTCDate() === day;
    return real ? at : (ctx.addIssue({ code: 'custom', message: 'is not a real date' }), z.NEVER);
  });
const search = z.string().max(200, 'must be at most 200 characters');
const pageLimit = z.coerce.number().int().min(1).max(500).default(50);

const executionQuery = querySchema({
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'dead']).optional(),
  channel: z.string().max(32).optional(),
  agent: z.string().max(64).optional(),
  since: isoTime.optional(),
  until: isoTime.optional(),
  q: search.optional(),
  before: cursor.optional(),
  limit: pageLimit,
});

const conversationQuery = querySchema({
  channel: z.string().max(32).optional(),
  q: search.optional(),
  before: cursor.optional(),
  limit: pageLimit,
});

const routeBody = z.object({
  source: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/i, 'must be a hook source name (letters, digits, - and _)'),
  event: z.string().min(1).max(200).nullish(),
  agent: z.string().min(1),
  destination: z.object({ channel: z.string().min(1), target: z.string().min(1).max(256) }),
});

function presentRoute(r: { id: string; source: string; event: string | null; agent: string; destination: unknown; createdAt: Date }) {
  return { id: r.id, source: r.source, event: r.event, agent: r.agent, destination: r.destination, created_at: r.createdAt };
}

const usageQuery = querySchema({
  days: z.coerce.number().int().min(1).max(366).default(7),
  group: z
    .string()
    .transform((s) => s.split(',').map((g) => g.trim()).filter(Boolean))
    .pipe(z.array(z.enum(USAGE_GROUPS, { message: `each group must be one of ${USAGE_GROUPS.join(', ')}` })).max(USAGE_GROUPS.length))
    .optional(),
});

function presentUsage(r: UsageRow) {
  const { executions, inputTokens, outputTokens, costUsd, ...keys } = r;
  return { ...keys, executions, input_tokens: inputTokens, output_tokens: outputTokens, cost_usd: costUsd };
}

const feedbackBody = z.object({
  execution_id: z.string().regex(UUID, 'must be an execution id'),
  score: z.union([z.literal(1), z.literal(-1)]),
  user_id: z.string().min(1).max(256),
});

const ACCESS_CHANNELS = Object.keys(ACCESS_MODES) as AccessChannel[];
// Who made a change, for the audit trail: the CLI says `cli:<user>`; anything else through the API is `api`.
const actor = z.string().min(1).max(100).regex(/^[\w.:@-]+$/, 'letters, digits and . : @ - _').optional();
const accessBody = z.union([
  z.object({ code: z.string().regex(PAIRING_CODE, 'must be a pairing code like 4F7K-Q2'), actor }).strict(),
  z
    .object({
      channel: z.enum(ACCESS_CHANNELS, { message: `must be one of ${ACCESS_CHANNELS.join(', ')}` }),
      subject: z.string().trim().min(1).max(200),
      kind: z.enum(['allow', 'deny', 'admin']).default('allow'),
      note: z.string().max(500).optional(),
      actor,
    })
    .strict(),
]);

function presentRule(r: AccessRule) {
  return { id: r.id, channel: r.channel, kind: r.kind, subject: r.subject, note: r.note, created_by: r.createdBy, created_at: r.createdAt };
}

function presentPairing(p: Pairing) {
  return { code: p.code, channel: p.channel, subject: p.subject, scope: p.scope, user_name: p.userName, created_at: p.createdAt, expires_at: p.expiresAt };
}

export function apiRoutes(deps: ApiDeps) {
  const { store } = deps;
  const api = new Hono();
  api.use('*', adminAuth(deps.checkAdminToken));
  // A body must be JSON; a bodyless POST (replay) has no media type to check.
  const json = requireContentType('application/json');
  const jsonIfBody: MiddlewareHandler = async function jsonIfBody(c, next) {
    const empty = c.req.header('content-length') === '0' || (!c.req.header('content-length') && !c.req.header('transfer-encoding'));
    return empty && !c.req.header('content-type') ? next() : json(c, next);
  };
  api.post('/*', jsonIfBody);
  api.patch('/*', json);
  api.use('*', refuseUnstorableInput());

  const execution = async (id: string) => {
    const row = UUID.test(id) ? await store.getExecution(id) : undefined;
    if (!row) throw new NotFoundError(`Execution ${id}`);
    return row;
  };

  /** `?wait=1`: hold the response until the execution is final (or the wait times out: 202). */
  const respond = async (c: Context, id: string, extra: Record<string, unknown>) => {
    const wait = ['1', 'true'].includes(c.req.query('wait') ?? '');
    const row = wait ? await deps.waiter.wait(id, deps.replyWaitSeconds * 1000) : await store.getExecution(id);
    const final = row && (row.status === 'succeeded' || row.status === 'dead');
    const body = { ...extra, execution_id: id, conversation_id: row?.conversationId, status: row?.status, reply: final ? row.result : null, error: row?.error ?? null };
    return c.json(body, wait && final ? 200 : 202);
  };

  api.post('/messages', async (c) => {
    const req = await rawRequest(c);
    deps.web.verify(req);
    const envelopes = await deps.web.normalize(req);
    if (!Array.isArray(envelopes)) throw new BadRequestError('ignored', envelopes.ignore);
    // A response names its conversation by id; sent back as `conversation_id`, that id continues the same
    // conversation (only one of the web channel's own), while any other value stays the client's own key.
    for (const envelope of envelopes) {
      if (!UUID.test(envelope.conversationKey)) continue;
      envelope.conversationKey = (await store.conversationKeyOf(envelope.channel, envelope.tenantId, envelope.conversationKey.toLowerCase())) ?? envelope.conversationKey;
    }
    const [result] = await deps.ingest(envelopes);
    // The web channel is a trusted system (admin-token holders); a refusal here is a quota or a policy the operator set.
    if (!result || isRefusal(result)) throw new AppError(403, `access_${result?.refused ?? 'refused'}`, result?.answer ?? 'The access policy refused this message');
    return respond(c, result.executionId, { duplicate: result.duplicate });
  });

  api.get('/executions', async (c) => {
    const { before, ...q } = parse(executionQuery, c.req.query());
    const page = await store.listExecutions({ ...q, after: before });
    return c.json({ executions: page.rows.map(presentExecution), next_cursor: page.nextCursor });
  });
  api.get('/executions/:id', async (c) => c.json(presentExecution(await execution(c.req.param('id')))));
  /**
   * Server-sent events: `delta` events ({ delta, text }: `text` is the answer so far) while the answer is
   * generated in this process, then one `done` with the stored reply (or `timeout`). A worker in another
   * process streams nothing here; `done` still arrives.
   */
  api.get('/executions/:id/stream', async (c) => {
    const row = await execution(c.req.param('id'));
    return streamSSE(c, async (stream) => {
      let writes = Promise.resolve();
      const send = (event: string, data: unknown) => {
        writes = writes.then(() => stream.writeSSE({ event, data: JSON.stringify(data) }));
      };
      // Subscribed before waiting, so no delta between the two is missed.
      const unsubscribe = deps.live.subscribe(row.id, (e) => e.type === 'delta' && send('delta', { delta: e.delta, text: e.text }));
      stream.onAbort(unsubscribe);
      try {
        const final = await deps.waiter.wait(row.id, deps.replyWaitSeconds * 1000);
        unsubscribe();
        const done = final?.status === 'succeeded' || final?.status === 'dead';
        send(done ? 'done' : 'timeout', { execution_id: row.id, status: final?.status, reply: done ? final.result : null, error: final?.error ?? null });
        await writes;
      } finally {
        unsubscribe();
      }
    });
  });
  api.post('/executions/:id/replay', async (c) => {
    const original = await execution(c.req.param('id'));
    const copy = await store.replay(original.id);
    store.queue.wake();
    return respond(c, copy!.id, { replay_of: original.id });
  });

  api.get('/agents', async (c) => {
    const rows = new Map((await store.listAgents()).map((r) => [r.name, r]));
    return c.json({
      agents: deps.agents.map((a) => ({
        name: a.name,
        description: a.description,
        enabled: rows.get(a.name)?.enabled ?? false,
        required_role: rows.get(a.name)?.requiredRole ?? 'member',
      })),
    });
  });
  /** `{ "enabled": bool }` switches an agent on or off; `{ "required_role": "admin" | "member" }` sets who may run it. */
  api.patch('/agents/:name', async (c) => {
    const body = parse(
      z
        .object({ enabled: z.boolean().optional(), required_role: z.enum(['admin', 'member']).optional(), actor })
        .strict()
        .refine((b) => b.enabled !== undefined || b.required_role !== undefined, 'give enabled or required_role'),
      await jsonBody(c.req),
    );
    const name = c.req.param('name');
    const agent = deps.agents.find((a) => a.name === name);
    if (!agent) throw new NotFoundError(`Agent ${name}`);
    let row = body.enabled !== undefined ? await store.setAgentEnabled(name, body.enabled) : undefined;
    if (body.required_role) row = await store.setRequiredRole(name, body.required_role, body.actor ?? 'api');
    row ??= (await store.listAgents()).find((r) => r.name === name);
    if (!row) throw new NotFoundError(`Agent ${name}`);
    return c.json({ name, description: agent.description, enabled: row.enabled, required_role: row.requiredRole });
  });

  /** Who may talk to the agents: the environment's settings, stored rules, pairings waiting for approval, recent changes. */
  api.get('/access', async (c) => {
    const now = new Date();
    const [rules, pending, audit] = await Promise.all([store.listAccessRules(), store.listPairings(now), store.listAccessAudit(50)]);
    return c.json({
      channels: deps.access.channels,
      quota_per_hour: deps.access.quotaPerHour,
      rules: rules.map(presentRule),
      pending: pending.map(presentPairing),
      audit: audit.map((a) => ({ actor: a.actor, action: a.action, channel: a.channel, subject: a.subject, detail: a.detail, at: a.at })),
    });
  });
  /** `{ "code" }` approves a pairing; `{ "channel", "subject", "kind"? }` adds an allow (default), deny or admin rule. */
  api.post('/access', async (c) => {
    const body = parse(accessBody, await jsonBody(c.req));
    const by = body.actor ?? 'api';
    if ('code' in body) {
      const rule = await store.approvePairing(body.code, by, new Date());
      if (!rule) throw new NotFoundError(`Pairing code ${body.code.toUpperCase()} (it may have expired: the person gets a new code when they write again)`);
      return c.json(presentRule(rule), 201);
    }
    const subject = body.channel === 'whatsapp' ? body.subject.replace(/^whatsapp:/i, '') : body.subject;
    const problem = accessIdProblem(body.channel, subject, body.kind === 'admin');
    if (problem) throw new BadRequestError('invalid_subject', problem);
    const rule = await store.addAccessRule({ channel: body.channel, kind: body.kind, subject, note: body.note, createdBy: by });
    return c.json(presentRule(rule), 201);
  });
  /** Deletes a rule (by id) or refuses a pending pairing (by code). */
  api.delete('/access/:id', async (c) => {
    const id = c.req.param('id');
    const by = c.req.query('actor')?.slice(0, 100) || 'api';
    const deleted = UUID.test(id) ? await store.deleteAccessRule(id, by) : PAIRING_CODE.test(id) ? await store.rejectPairing(id, by) : false;
    if (!deleted) throw new NotFoundError(`Access rule or pairing ${id}`);
    return c.body(null, 204);
  });

  /** Newest first by when each conversation started; `message_count` and `last_message_at` come with each. */
  api.get('/conversations', async (c) => {
    const { before, ...q } = parse(conversationQuery, c.req.query());
    const page = await store.listConversations({ ...q, after: before });
    return c.json({
      conversations: page.rows.map((r) => ({
        id: r.id,
        channel: r.channel,
        conversation_key: r.conversationKey,
        tenant_id: r.tenantId,
        created_at: r.createdAt,
        last_message_at: r.lastMessageAt,
        message_count: r.messageCount,
      })),
      next_cursor: page.nextCursor,
    });
  });
  api.get('/conversations/:id', async (c) => {
    const id = c.req.param('id');
    const conversation = UUID.test(id) ? await store.getConversation(id) : undefined;
    if (!conversation) throw new NotFoundError(`Conversation ${id}`);
    return c.json({
      id: conversation.id,
      channel: conversation.channel,
      conversation_key: conversation.conversationKey,
      tenant_id: conversation.tenantId,
      created_at: conversation.createdAt,
      messages: conversation.messages.map((m) => ({ id: m.id, role: m.role, user_id: m.userId, text: m.text, execution_id: m.executionId, created_at: m.createdAt })),
    });
  });

  api.get('/routes', async (c) => c.json({ routes: (await store.listRules()).map(presentRoute) }));
  api.post('/routes', async (c) => {
    const body = parse(routeBody, await jsonBody(c.req));
    if (!deps.agents.some((a) => a.name === body.agent)) {
      throw new BadRequestError('unknown_agent', `No agent named "${body.agent}"; known agents: ${deps.agents.map((a) => a.name).join(', ')}`);
    }
    const destinations = deps.destinations();
    const destination = destinations.find((d) => d.channel === body.destination.channel);
    if (!destination) {
      const known = destinations.map((d) => d.channel).join(', ') || 'none yet';
      throw new BadRequestError('invalid_destination', `Channel "${body.destination.channel}" cannot receive routed replies; destinations: ${known}`);
    }
    if (!destination.enabled) {
      throw new BadRequestError('invalid_destination', `The ${destination.channel} channel is disabled: set ${destination.requiredEnv.join(', ')} first`);
    }
    const invalid = destination.validateTarget?.(body.destination.target);
    if (invalid) throw new BadRequestError('invalid_destination', invalid);
    const row = await store.createRule({ source: canonicalHookSource(body.source), event: body.event ?? null, agent: body.agent, destination: body.destination });
    return c.json(presentRoute(row), 201);
  });
  api.delete('/routes/:id', async (c) => {
    const id = c.req.param('id');
    if (!UUID.test(id) || !(await store.deleteRule(id))) throw new NotFoundError(`Route ${id}`);
    return c.body(null, 204);
  });

  api.post('/feedback', async (c) => {
    const body = parse(feedbackBody, await jsonBody(c.req));
    // The admin token's holder is an admin: they may rate any execution, through the same vote path as everyone.
    const voter = { userId: body.user_id, channel: 'web', tenantId: 'web', admin: true };
    const outcome = await recordVote(store, { executionId: body.execution_id, score: body.score, voter });
    if (!outcome.recorded) throw new NotFoundError(`Execution ${body.execution_id}`);
    return c.json({ id: outcome.feedbackId, execution_id: outcome.executionId, user_id: body.user_id, score: outcome.score }, 201);
  });
  api.get('/feedback/summary', async (c) => {
    const { byAgent, ...totals } = await store.feedbackSummary();
    return c.json({ ...totals, by_agent: byAgent });
  });

  /** Tokens and cost of executions that called a model, over the last `days` UTC days, by day, agent, provider and tenant. */
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
