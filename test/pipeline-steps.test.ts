/**
 * The small pipeline steps through their public functions, with the real store on one embedded database per file:
 * the ingest step (src/pipeline/ingest.ts: agent, routing rules, shedding, rate limit, access, quota), the waiter
 * (`?wait=1`), scheduled maintenance and who counts as admin. Fast on purpose: `npm run mutate` runs these once per
 * mutant.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../db/index.ts';
import { openEmbeddedStore } from './support/databases.ts';
import type { Refusal } from '../src/access/index.ts';
import { createAccessPolicy } from '../src/access/policy.ts';
import { BadRequestError, RateLimitedError } from '../src/errors.ts';
import { createBackpressure } from '../src/pipeline/backpressure.ts';
import { createIngest } from '../src/pipeline/ingest.ts';
import { createMaintenance, HEALTH_CHECK_CRON, RETENTION_CRON } from '../src/pipeline/maintenance.ts';
import { isAdmin } from '../src/pipeline/roles.ts';
import { createWaiter } from '../src/pipeline/waiter.ts';
import type { IngressTraits, Logger, ProviderHealth } from '../src/ports.ts';
import { createRateLimiter } from '../src/ratelimit.ts';
import { createRedactor } from '../src/redact.ts';
import type { Envelope } from '../src/types.ts';

const SECRET = 'sk-test-abcdef0123456789abcdef0123';
let opened: Awaited<ReturnType<typeof openEmbeddedStore>>;
let store: Store;

beforeAll(async () => {
  opened = await openEmbeddedStore('steps');
  store = opened.store;
  await store.seedAgents(['ask', 'help', 'summarize', 'status', 'echo']);
}, 120_000);

afterAll(async () => {
  await opened?.remove();
});

const traitsOf =
  (over: Partial<IngressTraits> = {}) =>
  (): IngressTraits => ({ throttled: false, sheddable: false, tenant: 'workspace', operator: false, ...over });

const envelope = (over: Partial<Envelope> = {}): Envelope => {
  const deliveryId = randomUUID();
  return {
    channel: 'slack',
    deliveryId,
    tenantId: 'T1',
    conversationKey: `T1:${deliveryId}`,
    userId: 'U1',
    text: 'ask how do we deploy?',
    facts: { person: 'U1', places: ['T1'] },
    replyRef: {},
    receivedAt: new Date().toISOString(),
    ...over,
  } as Envelope;
};

type IngestOptions = { traits?: Partial<IngressTraits>; perMinute?: number; quotaPerHour?: number; depth?: number; now?: () => Date; untold?: boolean };

function ingestStep(o: IngestOptions = {}) {
  const refused: Refusal[] = [];
  let enqueued = 0;
  let depthReads = 0;
  const ingest = createIngest({
    store,
    agentNames: new Set(['ask', 'help', 'summarize', 'status', 'echo']),
    rateLimiter: createRateLimiter({ perMinute: o.perMinute ?? 1000, burst: o.perMinute ?? 1000 }),
    backpressure: createBackpressure({
      limit: 10,
      readDepth: async () => {
        depthReads++;
        return o.depth ?? 0;
      },
      ttlMs: 0,
    }),
    traits: traitsOf(o.traits),
    access: createAccessPolicy({
      channels: { slack: { mode: 'allowlist', allow: ['U1', 'U2', 'U3', 'U4', 'U5'], admins: ['U1'] } },
      quotaPerHour: o.quotaPerHour ?? 0,
      store: store.access,
      now: () => new Date(),
    }),
    ...(o.untold ? {} : { onRefused: (_: Envelope, refusal: Refusal) => void refused.push(refusal) }),
    ...(o.now ? { now: o.now } : {}),
    onEnqueued: () => void enqueued++,
  });
  return { ingest, refused, enqueued: () => enqueued, depthReads: () => depthReads };
}

const stored = async (id: string) => (await store.getExecution(id))!;
const idOf = (outcome: unknown) => (outcome as { executionIds: string[] }).executionIds[0]!;

describe('the ingest step', () => {
  it('classifies the text, stamps the role, stores it and says a new one was enqueued', async () => {
    const step = ingestStep();
    const [out] = await step.ingest([envelope({ text: 'help' })]);
    expect(out).toMatchObject({ duplicate: false });
    const row = await stored(idOf(out));
    expect(row.agent).toBe('help');
    expect(row.intent).toBe('help');
    expect((row.envelope as { access?: unknown }).access).toEqual({ role: 'admin' });
    expect(step.enqueued()).toBe(1);
    const [member] = await step.ingest([envelope({ userId: 'U2', facts: { person: 'U2', places: ['T1'] } } as Partial<Envelope>)]);
    expect(((await stored(idOf(member))).envelope as { access?: unknown }).access).toEqual({ role: 'member' });
  });

  it('does not say enqueued for a duplicate alone', async () => {
    const step = ingestStep();
    const one = envelope();
    await step.ingest([one]);
    expect(step.enqueued()).toBe(1);
    const [again] = await step.ingest([one]);
    expect(again).toMatchObject({ duplicate: true });
    expect(step.enqueued()).toBe(1);
  });

  it('runs a named agent with the text as its question, its own args when the text asks it, and the envelope args over both', async () => {
    const step = ingestStep();
    const [named] = await step.ingest([envelope({ agent: 'echo', text: 'hello', args: { extra: 1 } } as Partial<Envelope>)]);
    const row = await stored(idOf(named));
    expect(row.agent).toBe('echo');
    expect(row.intent).toBe('echo');
    expect(row.args).toEqual({ question: 'hello', text: 'hello', extra: 1 });
    const [asked] = await step.ingest([envelope({ agent: 'ask', text: 'ask why?', args: { question: 'over' } } as Partial<Envelope>)]);
    const askRow = await stored(idOf(asked));
    expect(askRow.args).toEqual({ question: 'over' });
    const [own] = await step.ingest([envelope({ agent: 'ask', text: 'ask why not?' } as Partial<Envelope>)]);
    expect((await stored(idOf(own))).args).toEqual({ question: 'why not?' });
    const [classified] = await step.ingest([envelope({ text: 'ask how?', args: { extra: 2 } } as Partial<Envelope>)]);
    expect((await stored(idOf(classified))).args).toEqual({ question: 'how?', extra: 2 });
  });

  it('refuses an unknown agent by name, listing the known ones, and stores nothing', async () => {
    const step = ingestStep();
    const error = await step.ingest([envelope({ agent: 'nope' } as Partial<Envelope>)]).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).code).toBe('unknown_agent');
    expect((error as Error).message).toBe('No agent named "nope"; known agents: ask, help, summarize, status, echo');
    expect(step.enqueued()).toBe(0);
  });

  it('makes one execution per matching routing rule, each with its destination and rule', async () => {
    const source = `src-${randomUUID()}`;
    const a = await store.createRule({ source, event: 'push', agent: 'echo', destination: { channel: 'slack', target: 'C1' } });
    const b = await store.createRule({ source, event: null, agent: 'summarize', destination: { channel: 'slack', target: 'C2' } });
    const step = ingestStep();
    const [out] = await step.ingest([envelope({ text: 'hi', event: { source, type: 'push' } } as Partial<Envelope>)]);
    const ids = (out as { executionIds: string[] }).executionIds;
    expect(ids).toHaveLength(2);
    const rows = await Promise.all(ids.map(stored));
    const byAgent = Object.fromEntries(rows.map((r) => [r.agent, r]));
    expect(byAgent.echo).toMatchObject({ destination: { channel: 'slack', target: 'C1' }, routeId: a.id });
    expect(byAgent.summarize).toMatchObject({ destination: { channel: 'slack', target: 'C2' }, routeId: b.id });
    // Another event type of that source matches only the rule for every type.
    const [other] = await step.ingest([envelope({ text: 'hi', event: { source, type: 'tag' } } as Partial<Envelope>)]);
    expect((other as { executionIds: string[] }).executionIds).toHaveLength(1);
    // No rule: answered in place.
    const [plain] = await step.ingest([envelope({ text: 'hi', event: { source: `none-${randomUUID()}`, type: 'push' } } as Partial<Envelope>)]);
    expect((await stored(idOf(plain))).destination).toBeNull();
  });

  it('sheds only sheddable channels under load', async () => {
    const calm = ingestStep({ depth: 50 });
    await calm.ingest([envelope()]);
    expect(calm.depthReads()).toBe(0);
    const shed = ingestStep({ depth: 50, traits: { sheddable: true } });
    await expect(shed.ingest([envelope()])).rejects.toThrow();
    expect(shed.enqueued()).toBe(0);
    const fine = ingestStep({ depth: 0, traits: { sheddable: true } });
    await fine.ingest([envelope(), envelope()]);
    expect(fine.depthReads()).toBe(2);
  });

  it('rate-limits each person of a throttled channel only, before anything is stored', async () => {
    const free = ingestStep({ perMinute: 1 });
    await free.ingest([envelope({ userId: 'U3' } as Partial<Envelope>), envelope({ userId: 'U3' } as Partial<Envelope>)]);
    expect(free.enqueued()).toBe(1);
    const step = ingestStep({ perMinute: 1, traits: { throttled: true } });
    const other = envelope({ userId: 'U4', tenantId: 'T9' } as Partial<Envelope>);
    await step.ingest([envelope({ userId: 'U3', tenantId: 'T9' } as Partial<Envelope>)]);
    // Another person of the same tenant has their own allowance.
    await step.ingest([other]);
    const second = envelope({ userId: 'U3', tenantId: 'T9' } as Partial<Envelope>);
    await expect(step.ingest([second])).rejects.toBeInstanceOf(RateLimitedError);
    expect(await store.getExecution(randomUUID())).toBeUndefined();
    expect(step.enqueued()).toBe(2);
  });

  it('refuses who the policy refuses and tells onRefused, without enqueueing', async () => {
    const step = ingestStep();
    const outcomes = await step.ingest([envelope({ userId: 'STRANGER', facts: { person: 'STRANGER', places: ['T1'] } } as Partial<Envelope>)]);
    expect(outcomes[0]).toMatchObject({ refused: expect.any(String) });
    expect(step.refused).toEqual([outcomes[0]]);
    expect(step.enqueued()).toBe(0);
  });

  it('refuses without anyone to tell, and by the role an agent requires', async () => {
    const untold = ingestStep({ untold: true });
    const [out] = await untold.ingest([envelope({ userId: 'STRANGER', facts: { person: 'STRANGER', places: ['T1'] } } as Partial<Envelope>)]);
    expect(out).toMatchObject({ refused: expect.any(String) });
    await store.setRequiredRole('status', 'admin', 'test');
    try {
      const step = ingestStep();
      const [member] = await step.ingest([envelope({ userId: 'U2', text: 'status', facts: { person: 'U2', places: ['T1'] } } as Partial<Envelope>)]);
      expect(member).toMatchObject({ refused: expect.any(String) });
      const [admin] = await step.ingest([envelope({ text: 'status' })]);
      expect(admin).toMatchObject({ duplicate: false });
    } finally {
      await store.setRequiredRole('status', 'member', 'test');
    }
  });

  it('counts the time to ask again from its own clock, or the real one', async () => {
    const tenantId = `Q${randomUUID()}`;
    const two = (person: string) =>
      [1, 2].map((n) =>
        envelope({ userId: person, tenantId, conversationKey: `${tenantId}:${person}${n}`, facts: { person, places: [tenantId] } } as Partial<Envelope>),
      );
    const early = ingestStep({ quotaPerHour: 1, now: () => new Date(Date.now() - 1_800_000) });
    const [, late] = await early.ingest(two('U3'));
    expect((late as Refusal).answer).toMatch(/\(in (90|91) minutes\)/);
    const real = ingestStep({ quotaPerHour: 1 });
    const [, refused] = await real.ingest(two('U4'));
    expect((refused as Refusal).answer).toMatch(/\(in (59|60) minutes\)/);
  });

  it('refuses over the hourly quota with when to ask again, and keeps the others', async () => {
    const now = new Date();
    const step = ingestStep({ quotaPerHour: 1, now: () => now });
    const tenantId = `Q${randomUUID()}`;
    const first = envelope({ userId: 'U5', tenantId, conversationKey: `${tenantId}:a`, facts: { person: 'U5', places: [tenantId] } } as Partial<Envelope>);
    const second = envelope({ userId: 'U5', tenantId, conversationKey: `${tenantId}:b`, facts: { person: 'U5', places: [tenantId] } } as Partial<Envelope>);
    const outcomes = await step.ingest([first, second]);
    expect(outcomes[0]).toMatchObject({ duplicate: false });
    expect(outcomes[1]).toMatchObject({ refused: 'quota' });
    expect((outcomes[1] as Refusal).answer).toMatch(/limit of 1 requests per hour; you can ask again at \d\d:\d\d UTC \(in (60 minutes|\d+ minutes?)\)/);
    expect(step.refused).toEqual([outcomes[1]]);
    expect(step.enqueued()).toBe(1);
  });
});

describe('the waiter', () => {
  async function execution(): Promise<string> {
    const [out] = await ingestStep().ingest([envelope()]);
    return idOf(out);
  }
  const counting = () => {
    let reads = 0;
    const s = {
      ...store,
      getExecution: (id: string) => {
        reads++;
        return store.getExecution(id);
      },
    } as Store;
    return { store: s, reads: () => reads };
  };

  it('gives back a final execution at once, and nothing for an unknown one', async () => {
    const id = await execution();
    await store.startAttempt(id);
    await store.markSucceeded({ id, latencyMs: 1 });
    const c = counting();
    const waiter = createWaiter(c.store, 60_000);
    expect((await waiter.wait(id, 60_000))?.status).toBe('succeeded');
    expect(await waiter.wait(randomUUID(), 60_000)).toBeUndefined();
    expect(c.reads()).toBe(2);
  });

  it('counts dead as final too', async () => {
    const id = await execution();
    await store.markLost(id, 'lost');
    expect((await createWaiter(store, 60_000).wait(id, 60_000))?.status).toBe('dead');
  });

  it('wakes on the local worker finishing, long before its poll', async () => {
    const id = await execution();
    const c = counting();
    const waiter = createWaiter(c.store, 600_000);
    const waiting = waiter.wait(id, 600_000);
    while (c.reads() === 0) await new Promise((r) => setImmediate(r));
    await store.startAttempt(id);
    await store.markSucceeded({ id, latencyMs: 1 });
    waiter.finished(randomUUID()); // another execution wakes nobody here
    waiter.finished(id);
    expect((await waiting)?.status).toBe('succeeded');
    expect(c.reads()).toBe(2);
  });

  it('polls a worker in another process, and gives the current state at the deadline', async () => {
    const id = await execution();
    const c = counting();
    // Polling every 1 ms for 200 ms reads more than twice, however slow each read is on a loaded machine (up to
    // about 60 ms each); a poll no shorter than the deadline would read exactly twice.
    const row = await createWaiter(c.store, 1).wait(id, 200);
    expect(row?.status).toBe('queued');
    expect(c.reads()).toBeGreaterThan(2);
    // The deadline bounds the wait even when the poll is longer.
    const once = counting();
    expect((await createWaiter(once.store, 600_000).wait(id, 20))?.status).toBe('queued');
    expect(once.reads()).toBe(2);
    // A deadline already past: one read.
    const past = counting();
    await createWaiter(past.store).wait(id, 0);
    expect(past.reads()).toBe(1);
  });
});

describe('scheduled maintenance', () => {
  let provider: ProviderHealth[] = [];
  const infos: unknown[] = [];
  const warned: [unknown, string][] = [];
  const logger = {
    info: (o: unknown, message: string) => void infos.push(o, message),
    warn: (o: unknown, message: string) => void warned.push([o, message]),
    error() {},
    debug() {},
  } as unknown as Logger;
  const llm = { complete: async () => Promise.reject(new Error('unused')), health: () => provider };

  it('checks the database, the queue and every provider, stores it redacted', async () => {
    provider = [
      { name: 'a', state: 'closed' },
      { name: 'b', state: 'open', lastError: `401 for key ${SECRET}` },
      { name: 'c', state: 'half-open' },
    ];
    const m = createMaintenance({ store, llm, logger, retentionDays: 30, now: () => new Date(), redactor: createRedactor({ key: SECRET }) });
    const before = performance.now();
    const checks = await m.healthCheck();
    expect(checks[0]!.latencyMs).toBeLessThanOrEqual(Math.ceil(performance.now() - before));
    expect(checks.map((c) => [c.component, c.ok])).toEqual([
      ['database', true],
      ['queue', true],
      ['provider:a', true],
      ['provider:b', false],
      ['provider:c', true],
    ]);
    expect(checks[0]!.detail).toBe(store.kind);
    expect(checks[0]!.latencyMs).toBeGreaterThanOrEqual(0);
    expect(checks[1]!.detail).toMatch(/^\d+ waiting$/);
    expect(checks[2]!.detail).toBe('closed');
    expect(checks[3]!.detail).toContain('open; last error: 401 for key ');
    const latest = JSON.stringify(await store.latestHealthChecks());
    expect(latest).toContain('provider:b');
    expect(latest).toContain('open; last error: 401 for key');
    expect(latest).not.toContain(SECRET);
  });

  it('stores the checks as they are without a redactor, and only with a database', async () => {
    provider = [{ name: `plain-${randomUUID()}`, state: 'closed' }];
    await createMaintenance({ store, llm, logger, retentionDays: 30, now: () => new Date() }).healthCheck();
    expect(JSON.stringify(await store.latestHealthChecks())).toContain(provider[0]!.name);
    const recorded: unknown[] = [];
    const down = {
      ...store,
      ready: async () => ({ database: false, migrations: false, error: 'connection refused' }),
      queueDepth: async () => Promise.reject(new Error('no database')),
      recordHealthChecks: async (c: unknown) => void recorded.push(c),
    } as unknown as Store;
    const checks = await createMaintenance({ store: down, llm, logger, retentionDays: 30, now: () => new Date() }).healthCheck();
    expect(checks.map((c) => c.component)).toEqual(['database', `provider:${provider[0]!.name}`]);
    expect(checks[0]).toMatchObject({ ok: false, detail: 'connection refused' });
    expect(recorded).toEqual([]);
    const unmigrated = { ...store, ready: async () => ({ database: true, migrations: false }) } as unknown as Store;
    const [db] = await createMaintenance({ store: unmigrated, llm, logger, retentionDays: 30, now: () => new Date() }).healthCheck();
    expect(db).toMatchObject({ ok: false, detail: `${store.kind}, migrations missing` });
  });

  it('purges deliveries past the retention days and health checks past a week, and logs it', async () => {
    const now = new Date('2026-06-10T00:00:00Z');
    const asked: unknown[] = [];
    const s = { ...store, purgeOld: async (o: unknown) => (asked.push(o), store.purgeOld(o as never)) } as Store;
    const purged = await createMaintenance({ store: s, llm, logger, retentionDays: 3, now: () => now }).retention();
    expect(asked).toEqual([{ deliveriesBefore: new Date('2026-06-07T00:00:00Z'), healthChecksBefore: new Date('2026-06-03T00:00:00Z') }]);
    expect(infos.slice(-2)).toEqual([{ purged }, 'retention cleanup done']);
  });

  it('schedules both jobs by name and checks health once right away', async () => {
    provider = [];
    const schedules: [string, string, () => Promise<void>][] = [];
    let recorded = 0;
    const s = {
      ...store,
      queue: { ...store.queue, schedule: async (name: string, cron: string, run: () => Promise<void>) => void schedules.push([name, cron, run]) },
      recordHealthChecks: async () => void recorded++,
      purgeOld: async () => ({ deliveries: 0 }),
    } as unknown as Store;
    await createMaintenance({ store: s, llm, logger, retentionDays: 30, now: () => new Date() }).schedule();
    expect(schedules.map(([n, c]) => [n, c])).toEqual([
      ['maintenance-health', HEALTH_CHECK_CRON],
      ['maintenance-retention', RETENTION_CRON],
    ]);
    expect(HEALTH_CHECK_CRON).toBe('*/5 * * * *');
    expect(RETENTION_CRON).toBe('17 3 * * *');
    while (recorded === 0) await new Promise((r) => setImmediate(r));
    expect(recorded).toBe(1);
    expect(await schedules[0]![2]()).toBeUndefined();
    expect(recorded).toBe(2);
    const before = infos.length;
    expect(await schedules[1]![2]()).toBeUndefined();
    expect(infos.length).toBe(before + 2);
    // The first check failing is logged, not thrown.
    const failing = { ...s, ready: async () => Promise.reject(new Error('no database')) } as unknown as Store;
    await createMaintenance({ store: failing, llm, logger, retentionDays: 30, now: () => new Date() }).schedule();
    while (warned.length === 0) await new Promise((r) => setImmediate(r));
    expect(warned[0]![1]).toBe('health check failed');
    expect((warned[0]![0] as { err: Error }).err.message).toBe('no database');
  });
});

describe('who is admin', () => {
  const operator = (channel: string): IngressTraits => traitsOf({ operator: channel === 'web' })();
  it('trusts the stamp of the access policy first', () => {
    expect(isAdmin({ channel: 'slack', access: { role: 'admin' } }, operator)).toBe(true);
    expect(isAdmin({ channel: 'web', access: { role: 'member' } }, operator)).toBe(false);
  });
  it('without a stamp, only the operator’s channels', () => {
    expect(isAdmin({ channel: 'web' }, operator)).toBe(true);
    expect(isAdmin({ channel: 'slack' }, operator)).toBe(false);
  });
});
