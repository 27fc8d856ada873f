/**
 * One execution attempt through the worker (src/pipeline/worker.ts) with the real ingest, access policy and store on
 * one embedded database per file, test doubles of the agents (a port) and of the outbound step: what is stored,
 * delivered, retried, deferred or declared dead, and what `status` shows whom. Fast on purpose: `npm run mutate`
 * runs these once per mutant.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../db/rows.ts';
import { openEmbeddedStore } from './support/databases.ts';
import { plainIngest } from './support/ingest.ts';
import { createMetrics } from '../src/metrics.ts';
import type { Ingest } from '../src/pipeline/ingest.ts';
import type { Outbound } from '../src/pipeline/outbound.ts';
import { createWorker, type WorkerDeps } from '../src/pipeline/worker.ts';
import { type Agent, type AgentContext, type AgentResult, type Logger, type Prepared, RetryLaterError, type StatusSnapshot } from '../src/ports.ts';
import { createRedactor } from '../src/redact.ts';
import { planPullRequestReview, type PullRequest } from '../src/review/index.ts';
import type { Envelope, Reply } from '../src/types.ts';

const SECRET = 'sk-test-0123456789abcdef0123456789';
let opened: Awaited<ReturnType<typeof openEmbeddedStore>>;
let ingest: Ingest;

beforeAll(async () => {
  opened = await openEmbeddedStore('worker');
  await opened.store.seedAgents(['echo', 'status', 'off', 'nobody']);
  await opened.store.setAgentEnabled('off', false);
  ingest = plainIngest(opened.store, ['echo', 'status', 'off', 'nobody'], { slack: { mode: 'open', allow: [], admins: ['ADMIN'] } });
}, 120_000);

afterAll(async () => {
  await opened?.remove();
});

/** Stores one event for `agent` and gives back its execution's id. */
async function queued(
  agent: string,
  {
    userId = 'U1',
    tenantId = 'T1',
    text = 'hello there',
    key = '',
    receivedAt = new Date(),
    address = undefined as string | undefined,
    event = undefined as Envelope['event'],
  } = {},
): Promise<string> {
  const deliveryId = randomUUID();
  const envelope = {
    channel: 'slack',
    deliveryId,
    tenantId,
    conversationKey: `${tenantId}:${key || deliveryId}`,
    userId,
    agent,
    text,
    facts: { person: userId, places: [tenantId] },
    replyRef: {},
    receivedAt: receivedAt.toISOString(),
    ...(address === undefined ? {} : { address }),
    ...(event === undefined ? {} : { event }),
  } as Envelope;
  const [result] = await ingest([envelope]);
  if (!result || !('executionIds' in result)) throw new Error(`not stored: ${JSON.stringify(result)}`);
  return result.executionIds[0]!;
}

type Sent = { executionId: string; reply: Reply; envelope: Envelope; delivered: unknown };

const silent: Logger = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;

/** A worker whose outbound step records what it was given; `send` decides what each delivery does. */
function worker(options: { agents?: Agent[]; send?: (sent: Sent, beforeSend: () => Promise<void>) => Promise<unknown>; extra?: Partial<WorkerDeps> } = {}) {
  const sent: Sent[] = [];
  const finished: string[] = [];
  const warnings: string[] = [];
  const logged: { bindings: object; obj: Record<string, unknown>; message: string }[] = [];
  const metrics = createMetrics();
  const outbound: Outbound = async (outgoing, reply) => {
    const one = { executionId: outgoing.executionId, reply, envelope: outgoing.envelope, delivered: outgoing.delivered };
    sent.push(one);
    if (options.send) return (await options.send(one, outgoing.beforeSend ?? (async () => {}))) as never;
    return undefined as never;
  };
  const agents = options.agents ?? [echo()];
  const logAs = (bindings: object): Logger =>
    ({
      ...silent,
      warn: (obj: Record<string, unknown>, message: string) => {
        warnings.push(message);
        logged.push({ bindings, obj, message });
      },
      child: (more: object) => logAs({ ...bindings, ...more }),
    }) as Logger;
  const logger = logAs({});
  const w = createWorker({
    store: opened.store,
    agents: new Map(agents.map((a) => [a.name, a])),
    llm: { complete: async () => Promise.reject(new Error('no model')), health: () => [{ name: 'offline', state: 'closed' }] },
    outbound,
    traits: () => ({ throttled: false, sheddable: false, tenant: 'workspace', operator: false }),
    logger,
    redactor: createRedactor({ key: SECRET }),
    metrics,
    maxAttempts: 2,
    now: () => new Date(),
    startedAt: new Date(Date.now() - 90_000),
    onFinished: (id) => void finished.push(id),
    ...options.extra,
  });
  const count = async (status: string) => {
    const values = (await metrics.executions.get()).values;
    return values.filter((v) => v.labels.status === status).reduce((n, v) => n + v.value, 0);
  };
  return { ...w, sent, finished, warnings, logged, count, metrics };
}

/** An agent that answers with what it was asked, counting its runs. */
function echo(
  name = 'echo',
  extra: (ctx: AgentContext) => Partial<AgentResult> | Promise<Partial<AgentResult>> = () => ({}),
): Agent & { runs: AgentContext[] } {
  const runs: AgentContext[] = [];
  return {
    name,
    description: `the ${name} agent`,
    usesLlm: false,
    runs,
    async run(ctx) {
      runs.push(ctx);
      return { text: `echo: ${ctx.envelope.text}`, ...(await extra(ctx)) };
    },
  };
}

const row = async (id: string) => (await opened.store.getExecution(id))!;

describe('the worker', () => {
  it('stores the answer, delivers it, succeeds and says so once', async () => {
    const id = await queued('echo');
    const w = worker({ send: async () => ({ parts: 1 }) });
    await w.run(id);
    expect(w.sent.map((s) => s.reply.text)).toEqual(['echo: hello there']);
    expect(w.sent[0]!.executionId).toBe(id);
    const done = await row(id);
    expect(done.status).toBe('succeeded');
    expect(done.result).toMatchObject({ text: 'echo: hello there' });
    expect(done.delivered).toEqual({ parts: 1 });
    expect(done.latencyMs).toBeGreaterThanOrEqual(0);
    expect(w.finished).toEqual([id]);
    expect(await w.count('succeeded')).toBe(1);
    // A redelivered job after the work committed does nothing.
    await w.run(id);
    expect(w.sent).toHaveLength(1);
    expect(w.finished).toEqual([id]);
  });

  it('stores the answer before the first part goes out, and with the success when nothing asked first', async () => {
    const early = await queued('echo');
    let seen: unknown = 'unread';
    const w = worker({
      send: async (_, beforeSend) => {
        await beforeSend();
        seen = (await row(early)).result;
        await beforeSend(); // a second call stores nothing more
        return undefined;
      },
    });
    await w.run(early);
    expect(seen).toMatchObject({ text: 'echo: hello there' });
    expect((await row(early)).delivered).toBeNull();
    const late = await queued('echo');
    const quiet = worker();
    await quiet.run(late);
    expect((await row(late)).result).toMatchObject({ text: 'echo: hello there' });
    expect((await row(late)).status).toBe('succeeded');
  });

  it('answers for an unknown or a disabled agent without running one', async () => {
    const w = worker({ agents: [echo('off')] });
    const unknown = await queued('nobody');
    await w.run(unknown);
    expect((await row(unknown)).result).toEqual({ text: 'There is no nobody agent.', data: { unknownAgent: true } });
    const off = await queued('off');
    await w.run(off);
    expect((await row(off)).result).toEqual({ text: 'the off agent is disabled', data: { agentDisabled: true } });
    expect(w.sent.map((s) => s.reply.text)).toEqual(['There is no nobody agent.', 'the off agent is disabled']);
  });

  it('gives the agent the intent, history, conversation and the agents it may name', async () => {
    const agent = echo('echo', async (ctx) => ({ data: { agents: await ctx.agents() } }));
    const w = worker({ agents: [agent, echo('status')] });
    const id = await queued('echo', { text: 'remember this' });
    await w.run(id);
    const ctx = agent.runs[0]!;
    const stored = await row(id);
    expect(ctx.executionId).toBe(id);
    expect(ctx.conversationId).toBe(stored.conversationId);
    expect(ctx.intent).toEqual({ name: 'echo', args: stored.args });
    expect(ctx.envelope.text).toBe('remember this');
    expect(Array.isArray(ctx.history)).toBe(true);
    // Only agents this process runs, with their descriptions; `off` and `nobody` are seeded but not run here.
    expect((stored.result as { data: { agents: unknown } }).data.agents).toEqual(
      expect.arrayContaining([
        { name: 'echo', enabled: true, description: 'the echo agent' },
        { name: 'status', enabled: true, description: 'the status agent' },
      ]),
    );
    expect((stored.result as { data: { agents: unknown[] } }).data.agents).toHaveLength(2);
  });

  it('uses what the channel prepared: its envelope, history and context; records polled votes', async () => {
    const agent = echo();
    const voted = await queued('echo');
    await worker().run(voted);
    const id = await queued('echo');
    const calls: { executionId: string; agent: string }[] = [];
    const w = worker({
      agents: [agent],
      extra: {
        async prepare(envelope, meta): Promise<Prepared> {
          calls.push(meta);
          return {
            envelope: { ...envelope, text: 'prepared text' },
            history: [{ role: 'user', text: 'earlier' }] as never,
            context: { head: 'abc' },
            votes: [{ executionId: voted, userId: 'U1', score: 1 }],
          };
        },
      },
    });
    await w.run(id);
    expect(calls).toEqual([{ executionId: id, agent: 'echo' }]);
    expect(agent.runs[0]!.envelope.text).toBe('prepared text');
    expect(agent.runs[0]!.history).toEqual([{ role: 'user', text: 'earlier' }]);
    expect(w.sent[0]!.reply).toMatchObject({ text: 'echo: prepared text', context: { head: 'abc' } });
    expect((await row(id)).result).toMatchObject({ context: { head: 'abc' } });
    // The vote is cast in another conversation than the voted execution's: refused, not stored, and no failure.
    expect((await row(id)).status).toBe('succeeded');
  });

  it('keeps the trace of the chain, redacted, and the usage', async () => {
    const agent = echo('echo', () => ({
      usage: { provider: 'p', model: 'm', inputTokens: 3, outputTokens: 4, costUsd: 0.5, trace: [{ provider: 'p', error: `bad key ${SECRET}` }] } as never,
    }));
    const id = await queued('echo');
    const w = worker({ agents: [agent] });
    await w.run(id);
    const text = JSON.stringify((await row(id)).result);
    expect(text).toContain('"llm"');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('"usage"');
    expect((await row(id)).inputTokens).toBe(3);
  });

  it('keeps the answer of a failed delivery, retries with it, and is dead after the last attempt', async () => {
    const agent = echo();
    const id = await queued('echo');
    const w = worker({
      agents: [agent],
      send: async () => {
        throw new Error(`channel down ${SECRET}`);
      },
    });
    const first = await w.run(id).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(first).toBeInstanceOf(Error);
    expect((first as Error).message).not.toContain(SECRET);
    let stored = await row(id);
    expect(stored.status).toBe('failed');
    expect(stored.error).toContain('channel down');
    expect(stored.error).not.toContain(SECRET);
    expect(stored.result).toMatchObject({ text: 'echo: hello there' });
    expect(w.finished).toEqual([]);
    expect(await w.count('failed')).toBe(1);
    expect(w.warnings).toContain('execution attempt failed; will retry');
    await w.run(id); // the last attempt: not thrown, the job completes
    stored = await row(id);
    expect(stored.status).toBe('dead');
    expect(agent.runs).toHaveLength(1);
    expect(w.sent.map((s) => s.reply.text)).toEqual(['echo: hello there', 'echo: hello there']);
    expect(w.finished).toEqual([id]);
    expect(await w.count('dead')).toBe(1);
    expect(w.warnings).toContain('execution is dead after its last attempt');
  });

  it('logs, not throws, an answer it cannot store after a failure', async () => {
    const id = await queued('echo');
    const w = worker({
      send: async () => {
        throw new Error('channel down');
      },
      extra: { maxAttempts: 1, store: { ...opened.store, recordResult: async () => Promise.reject(new Error('disk full')) } as never },
    });
    await w.run(id);
    expect(w.warnings).toContain('could not store the answer of a failed attempt');
    expect((await row(id)).status).toBe('dead');
    expect((await row(id)).result).toBeNull();
  });

  it('waits as the platform asked on a rate limit, without counting the attempt', async () => {
    const id = await queued('echo');
    const w = worker({
      send: async () => {
        throw new RetryLaterError(2_500, 'Slack rate-limited chat.postMessage');
      },
    });
    await w.run(id);
    const stored = await row(id);
    expect(stored.error).toContain('(waiting 3 s as the platform asked)');
    expect(stored.status).not.toBe('dead');
    expect(stored.result).toMatchObject({ text: 'echo: hello there' });
    expect(w.finished).toEqual([]);
    expect(await w.count('failed')).toBe(0);
    expect(w.warnings).toContain('the platform rate-limited this execution; it runs again after the wait it asked for');
    // Past the deferrals allowed it is an ordinary failure.
    await expect(w.run(id, 1_000)).rejects.toThrow('rate-limited');
    expect((await row(id)).status).toBe('failed');
  });

  it('declares a lost execution dead once, with how to replay it', async () => {
    const id = await queued('echo');
    const w = worker();
    await w.lost(id);
    const stored = await row(id);
    expect(stored.status).toBe('dead');
    expect(stored.error).toContain(`switchboard replay ${id}`);
    expect(w.finished).toEqual([id]);
    expect(await w.count('dead')).toBe(1);
    const done = await queued('echo');
    await w.run(done);
    await w.lost(done); // it finished after all
    expect((await row(done)).status).toBe('succeeded');
    expect(w.finished).toEqual([id, done]);
    expect(await w.count('dead')).toBe(1);
  });
});

describe('status through the worker', () => {
  const statusAgent = () => {
    const snapshots: StatusSnapshot[] = [];
    const agent = echo('status', async (ctx) => {
      const [a, b] = await Promise.all([ctx.status(), ctx.status()]);
      snapshots.push(a, b);
      return {};
    });
    return { agent, snapshots };
  };

  it('shows a member only their own tenant, without the database', async () => {
    const { agent, snapshots } = statusAgent();
    const w = worker({ agents: [agent] });
    await w.run(await queued('status', { userId: 'U2', tenantId: 'T7' }));
    const [s] = snapshots;
    expect(s!.scope).toBe('T7');
    expect(s!.database).toBeUndefined();
    expect(s!.providers).toEqual([{ name: 'offline', state: 'closed' }]);
    expect(s!.uptimeSeconds).toBeGreaterThanOrEqual(90);
    expect(s!.uptimeSeconds).toBeLessThan(1_000);
    expect(typeof s!.queueDepth).toBe('number');
    expect(s!.agents).toEqual(expect.arrayContaining([{ name: 'off', enabled: false }]));
    // This tenant's only execution is the running one.
    expect(Object.values(s!.executionsLastHour).reduce((n, v) => n + v, 0)).toBe(1);
    expect(snapshots[1]).toEqual(s);
  });

  it('shows an admin everything, the database included, and their failures', async () => {
    const failing = await queued('echo', { tenantId: 'T8' });
    const f = worker({
      send: async () => {
        throw new Error('gone');
      },
      extra: { maxAttempts: 1 },
    });
    await f.run(failing);
    const { agent, snapshots } = statusAgent();
    const w = worker({ agents: [agent] });
    await w.run(await queued('status', { userId: 'ADMIN', tenantId: 'T8' }));
    const [s] = snapshots;
    expect(s!.scope).toBeUndefined();
    expect(s!.database).toBeDefined();
    expect(Object.values(s!.executionsLastHour).reduce((n, v) => n + v, 0)).toBeGreaterThan(2);
    const failure = s!.recentFailures.find((r) => r.id === failing);
    expect(failure).toMatchObject({ agent: 'echo', error: 'gone' });
    expect(failure!.at).toMatch(/^\d{4}-/);
  });
});

describe('feedback through the worker', () => {
  // Where the vote was cast comes from the stored execution, whatever the agent says.
  const forged = { conversationId: randomUUID(), userId: 'forged', channel: 'web' };
  it('records a vote the agent passes on, as cast where the execution was', async () => {
    const target = await queued('echo');
    await worker().run(target);
    const results: unknown[] = [];
    const agent = echo('echo', async (ctx) => {
      results.push(await ctx.recordFeedback({ executionId: target, score: 1, ...forged }));
      return {};
    });
    const id = await queued('echo');
    await worker({ agents: [agent] }).run(id);
    // Another conversation: refused with a reason.
    expect(results).toEqual([{ error: 'not-here' }]);
    const key = randomUUID();
    const mine = await queued('echo', { key });
    await worker().run(mine);
    const agreed: unknown[] = [];
    const voter = echo('echo', async (ctx) => {
      agreed.push(await ctx.recordFeedback({ executionId: mine, score: -1, ...forged }));
      return {};
    });
    await worker({ agents: [voter] }).run(await queued('echo', { key }));
    expect(agreed).toEqual([{ executionId: mine, score: -1 }]);
  });
});

describe('the worker, what it measures and logs', () => {
  it('measures latency and time to reply, and counts them by agent and channel', async () => {
    const id = await queued('echo', { receivedAt: new Date(Date.now() - 7_200_000) });
    const w = worker();
    const before = performance.now();
    await w.run(id);
    const elapsed = performance.now() - before;
    expect((await row(id)).latencyMs).toBeLessThanOrEqual(Math.ceil(elapsed));
    const replied = (await w.metrics.ingestToReply.get()).values;
    const sum = replied.find((v) => v.metricName?.endsWith('_sum'))!;
    expect(sum.labels).toEqual({ channel: 'slack' });
    // Two hours in seconds, give or take the run.
    expect(sum.value).toBeGreaterThan(7_199);
    expect(sum.value).toBeLessThan(7_300);
  });

  it('logs with the execution and agent bound, and the numbers of a failure', async () => {
    const id = await queued('echo');
    const w = worker({
      send: async () => {
        throw new RetryLaterError(1_000, 'Slack rate-limited chat.postMessage');
      },
      extra: { store: { ...opened.store, recordResult: async () => Promise.reject(new Error(`disk full ${SECRET}`)) } as never },
    });
    await w.run(id, 2);
    const storing = w.logged.find((l) => l.message === 'could not store the answer of a failed attempt')!;
    expect(storing.bindings).toEqual({ executionId: id, agent: 'echo' });
    expect(String((storing.obj.err as Error).message)).toContain('disk full');
    expect(String((storing.obj.err as Error).message)).not.toContain(SECRET);
    const deferred = w.logged.find((l) => l.message.startsWith('the platform rate-limited'))!;
    expect(deferred.obj).toMatchObject({ retryAfterSeconds: 1, deferrals: 3 });
    expect(deferred.obj.err).toBeInstanceOf(RetryLaterError);
    const before = performance.now();
    const failing = await queued('echo');
    const f = worker({
      send: async () => {
        throw new Error('down');
      },
    });
    await expect(f.run(failing)).rejects.toThrow('down');
    expect((await row(failing)).latencyMs).toBeLessThanOrEqual(Math.ceil(performance.now() - before));
    expect(f.logged.find((l) => l.message === 'execution attempt failed; will retry')!.obj).toMatchObject({ attempt: 1, dead: false });
    await f.lost(failing);
    expect(f.logged.find((l) => l.message === 'an execution lost its last attempt and is dead')!.obj).toEqual({ executionId: failing });
  });

  it('checks the budget of a model-using agent only, for its tenant, channel and person, and tells the chain', async () => {
    const checked: unknown[] = [];
    const options: unknown[] = [];
    const llmAgent: Agent = {
      ...echo(),
      usesLlm: true,
      async run(ctx) {
        await ctx.llm.complete({ system: 's', messages: [] } as never).catch(() => undefined);
        return { text: 'done' };
      },
    };
    const budget = { enabled: true, check: async (scope: unknown) => (checked.push(scope), 'over the daily budget') };
    const llm = {
      complete: async (_: unknown, o: unknown) => {
        options.push(o);
        throw new Error('offline');
      },
      health: () => [],
    };
    const id = await queued('echo', { userId: 'U3', tenantId: 'T3' });
    await worker({ agents: [llmAgent], extra: { budget, llm } }).run(id);
    expect(checked).toEqual([{ tenantId: 'T3', channel: 'slack', userId: 'U3' }]);
    expect(options).toEqual([expect.objectContaining({ overBudget: 'over the daily budget' })]);
    await worker({ agents: [echo()], extra: { budget, llm } }).run(await queued('echo'));
    await worker({ agents: [llmAgent], extra: { budget: { ...budget, enabled: false }, llm } }).run(await queued('echo'));
    expect(checked).toHaveLength(1);
    expect(options).toHaveLength(2);
    expect(options[1]).not.toHaveProperty('overBudget', 'over the daily budget');
  });

  it('runs a model-using agent with no budget configured, and logs through a logger without children', async () => {
    const llmAgent: Agent = { ...echo(), usesLlm: true };
    const id = await queued('echo');
    await worker({ agents: [llmAgent], extra: { logger: silent } }).run(id);
    expect((await row(id)).status).toBe('succeeded');
  });

  it('streams to the conversation, not for a routed reply, and closes the stream before delivering', async () => {
    const opened_: [string, Envelope | undefined][] = [];
    const order: string[] = [];
    const live = {
      open: (executionId: string, envelope?: Envelope) => {
        opened_.push([executionId, envelope]);
        return { onDelta() {}, close: async () => void order.push('closed') };
      },
      subscribe: () => () => {},
    };
    const id = await queued('echo');
    await worker({ extra: { live }, send: async () => void order.push('sent') }).run(id);
    expect(opened_).toEqual([[id, expect.objectContaining({ deliveryId: expect.any(String) })]]);
    expect(order).toEqual(['closed', 'sent']);
    // Closed even when the agent fails.
    const failing = echo('echo', () => Promise.reject(new Error('agent broke')));
    await expect(worker({ agents: [failing], extra: { live } }).run(await queued('echo'))).rejects.toThrow('agent broke');
    expect(order).toEqual(['closed', 'sent', 'closed']);
  });

  it('records the votes the channel found in this conversation, only as a member', async () => {
    const key = randomUUID();
    const mine = await queued('echo', { key });
    await worker().run(mine);
    const elsewhere = await queued('echo');
    await worker().run(elsewhere);
    const next = await queued('echo', { key });
    const w = worker({
      extra: {
        prepare: async (envelope) => ({
          envelope,
          votes: [
            { executionId: mine, userId: 'U7', score: -1 },
            { executionId: elsewhere, userId: 'U7', score: 1 },
          ],
        }),
      },
    });
    await w.run(next);
    const conversation = (await row(mine)).conversationId;
    expect(await opened.store.conversationFeedback(conversation)).toEqual(expect.arrayContaining([expect.objectContaining({ executionId: mine, down: 1 })]));
    const other = (await row(elsewhere)).conversationId;
    expect(await opened.store.conversationFeedback(other)).toEqual([]);
    expect((await row(next)).status).toBe('succeeded');
    // A channel with nothing to add, and one whose votes cannot be stored: the answer still goes out.
    const plain = await queued('echo');
    await worker({ extra: { prepare: async (envelope) => ({ envelope }) } }).run(plain);
    expect((await row(plain)).status).toBe('succeeded');
    const broken = await queued('echo');
    const b = worker({
      extra: {
        store: { ...opened.store, voteTarget: async () => Promise.reject(new Error('database busy')) } as never,
        prepare: async (envelope) => ({ envelope, votes: [{ executionId: mine, userId: 'U7', score: 1 }] }),
      },
    });
    await b.run(broken);
    expect((await row(broken)).status).toBe('succeeded');
    expect(b.logged.find((l) => l.message === 'could not record the votes found on the platform')?.obj.err).toBeDefined();
  });

  it('shares the reads of concurrent status requests of one scope, and reads again after', async () => {
    let reads = 0;
    const store = {
      ...opened.store,
      queueDepth: async () => {
        reads++;
        return opened.store.queueDepth();
      },
    };
    const agent = echo('status', async (ctx) => {
      await Promise.all([ctx.status(), ctx.status(), ctx.status()]);
      await ctx.status();
      return {};
    });
    await worker({ agents: [agent], extra: { store: store as never } }).run(await queued('status'));
    expect(reads).toBe(2);
  });
});

describe('votes cast where a routing rule delivered the answer', () => {
  // A routed answer lives in the conversation of the event that fired it; it is rated where it was posted.
  const ROUTED = 'C-ROUTED';
  let routed: string;
  beforeAll(async () => {
    await opened.store.createRule({ source: 'ci-votes', agent: 'echo', destination: { channel: 'slack', target: ROUTED } });
    routed = await queued('echo', { event: { source: 'ci-votes' } });
    await worker().run(routed);
  });

  it("counts an agent's vote from the conversation at the destination's address, and only there", async () => {
    expect((await row(routed)).destination).toEqual({ channel: 'slack', target: ROUTED });
    const results: unknown[] = [];
    const agent = echo('echo', async (ctx) => {
      // What the agent says about where the vote was cast is ignored.
      results.push(await ctx.recordFeedback({ executionId: routed, score: 1, conversationId: randomUUID(), userId: 'forged', channel: 'web' }));
      return {};
    });
    await worker({ agents: [agent] }).run(await queued('echo', { address: ROUTED }));
    await worker({ agents: [agent] }).run(await queued('echo'));
    await worker({ agents: [agent] }).run(await queued('echo', { address: 'C-ELSEWHERE' }));
    expect(results).toEqual([{ executionId: routed, score: 1 }, { error: 'not-here' }, { error: 'not-here' }]);
  });

  it('counts the votes the channel found in the conversation at that address', async () => {
    const polled = async (userId: string, address?: string) => {
      const votes = [{ executionId: routed, userId, score: -1 as const }];
      await worker({ extra: { prepare: async (envelope) => ({ envelope, votes }) } }).run(await queued('echo', { address }));
    };
    await polled('U-THERE', ROUTED);
    await polled('U-NOWHERE');
    const votes = rowsOf<{ user_id: string; score: number }>(
      await opened.handle.db.execute(sql`select user_id, score from feedback where execution_id = ${routed} and score = -1`),
    );
    expect(votes).toEqual([{ user_id: 'U-THERE', score: -1 }]);
  });
});

describe('a pull-request review through the worker', () => {
  const files = [
    { filename: 'src/app.ts', status: 'modified', patch: '@@ -1,2 +1,2 @@\n const a = 1;\n-const b = 2;\n+const b = eval(input);', additions: 1, deletions: 1 },
  ];
  const pullRequest = (number: number): PullRequest => ({
    owner: 'acme',
    repo: 'api',
    number,
    headSha: 'b'.repeat(40),
    baseSha: 'a'.repeat(40),
    requested: false,
    compare: async () => ({ ahead: true, files, truncated: false }),
  });

  it('has the agent review the diff the core planned, and keeps the plan with the answer', async () => {
    const agent = echo();
    const id = await queued('echo', { text: 'please review' });
    const w = worker({ agents: [agent], extra: { prepare: async (envelope) => ({ envelope, pullRequest: pullRequest(7) }) } });
    await w.run(id);
    const planned = await planPullRequestReview(opened.store, pullRequest(7));
    expect(planned.text).toContain('src/app.ts');
    expect(agent.runs[0]!.envelope).toMatchObject({ text: planned.text, userId: 'U1', channel: 'slack' });
    expect(w.sent[0]!.reply).toEqual({ text: `echo: ${planned.text}`, review: planned.plan });
    expect((await row(id)).result).toEqual({ text: `echo: ${planned.text}`, review: planned.plan });
    expect(planned.plan).toMatchObject({ owner: 'acme', repo: 'api', number: 7, mode: 'full', reviewed: ['src/app.ts'] });
  });
});

describe('status through the worker, the rest of it', () => {
  const traits = (channel: string) => ({
    throttled: false,
    sheddable: false,
    tenant: 'workspace',
    operator: false,
    ...(channel === 'github' ? { redeliver: 'redeliver them from the GitHub App’s Advanced page' } : {}),
  });
  /** What `status` shows `userId` of `tenantId`, read by a worker with `extra`. */
  async function statusOf(userId: string, tenantId: string, extra: Partial<WorkerDeps> = {}): Promise<StatusSnapshot> {
    let seen: StatusSnapshot | undefined;
    const agent = echo('status', async (ctx) => {
      seen = await ctx.status();
      return {};
    });
    await worker({ agents: [agent], extra }).run(await queued('status', { userId, tenantId }));
    return seen!;
  }

  it('tells an admin how to get back the refused deliveries of a platform that never redelivers, once per platform', async () => {
    const before = (await statusOf('ADMIN', 'T40', { traits })).database!;
    expect(before).not.toHaveProperty('redeliver');
    expect(before).not.toHaveProperty('refused');
    opened.store.health.refused('slack');
    const slackOnly = (await statusOf('ADMIN', 'T40', { traits })).database!;
    expect(slackOnly.refused?.byChannel).toEqual({ slack: 1 });
    expect(slackOnly).not.toHaveProperty('redeliver');
    opened.store.health.refused('github');
    opened.store.health.refused('github');
    const both = (await statusOf('ADMIN', 'T40', { traits })).database!;
    expect(both.refused?.byChannel).toEqual({ slack: 1, github: 2 });
    expect(both.redeliver).toEqual(['redeliver them from the GitHub App’s Advanced page']);
    expect(both.up).toBe(true);
    expect((await statusOf('U1', 'T40', { traits })).database).toBeUndefined();
  });

  it('shows a failure stored without a time with an empty time', async () => {
    const id = await queued('echo', { tenantId: 'T41' });
    await opened.handle.db.execute(sql`update executions set status = 'failed', error = 'no time', finished_at = null where id = ${id}`);
    const s = await statusOf('U1', 'T41');
    expect(s.recentFailures).toEqual([{ id, agent: 'echo', error: 'no time', at: '' }]);
  });

  it('reads status once per scope when an admin and members of two tenants ask at once', async () => {
    const seen = new Map<string, StatusSnapshot>();
    let waiting = 0;
    let release = () => {};
    const together = new Promise<void>((resolve) => {
      release = resolve;
    });
    const agent = echo('status', async (ctx) => {
      if (++waiting === 3) release();
      await together; // all three ask in the same turn, while the first one's reads are in flight
      seen.set(ctx.envelope.userId, await ctx.status());
      return {};
    });
    const w = worker({ agents: [agent] });
    const ids = [await queued('status', { userId: 'U51', tenantId: 'T51' }), await queued('status', { userId: 'U52', tenantId: 'T52' })];
    await queued('status', { userId: 'U52', tenantId: 'T52' });
    ids.push(await queued('status', { userId: 'ADMIN', tenantId: 'T53' }));
    await Promise.all(ids.map((id) => w.run(id)));
    const total = (s: StatusSnapshot | undefined) => Object.values(s!.executionsLastHour).reduce((n, v) => n + v, 0);
    expect(total(seen.get('U51'))).toBe(1);
    expect(total(seen.get('U52'))).toBe(2);
    expect(total(seen.get('ADMIN'))).toBeGreaterThan(4);
  });
});

describe('a deferred execution', () => {
  it('hands the queue the number of deferrals so far, one more than this run had', async () => {
    const id = await queued('echo');
    const w = worker({
      send: async () => {
        throw new RetryLaterError(1_000, 'Slack rate-limited chat.postMessage');
      },
    });
    await w.run(id, 4);
    const jobs = rowsOf<{ data: { executionId: string; deferrals?: number } }>(
      await opened.handle.db.execute(sql`select data from pgboss.job where name = 'executions' and data->>'executionId' = ${id}`),
    );
    expect(jobs.map((j) => j.data)).toContainEqual({ executionId: id, deferrals: 5 });
  });
});
