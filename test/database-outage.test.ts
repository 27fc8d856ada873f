/**
 * When PostgreSQL goes away: a TCP proxy between Switchboard and the real server cuts every connection and refuses
 * new ones, then lets them through again. Runs only against a real server (DATABASE_URL); PGlite cannot go away.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgents } from '../src/agents/index.ts';
import { loadConfig } from '../src/config.ts';
import type { Agent, Logger } from '../src/ports.ts';
import { startSwitchboard, type Switchboard } from '../src/server.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from './support/databases.ts';
import { ADMIN_TOKEN, HOOK_SECRET, signedHook } from './support/switchboard.ts';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts';
import { waitFor } from './support/wait.ts';

const CONNECT_TIMEOUT_SECONDS = 2;
const ACQUIRE_TIMEOUT_MS = 1000;
/** A refusal must come within the configured bounds; this is generous on purpose (a shared 2-core machine). */
const REFUSAL_BOUND_MS = CONNECT_TIMEOUT_SECONDS * 1000 + ACQUIRE_TIMEOUT_MS + 3000;

type Line = { level: string; msg: string; obj: object };

/** A logger that keeps every line, so a test can count what an outage wrote. */
function capturingLogger(lines: Line[]): Logger & { child(b: object): Logger } {
  const at =
    (level: string) =>
    (obj: object | string, msg?: string): void => {
      lines.push(typeof obj === 'string' ? { level, msg: obj, obj: {} } : { level, msg: msg ?? '', obj });
    };
  const logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}

/** `ask` that waits on its first call until the test lets it go (the database is cut meanwhile). */
function gatedAsk() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let entered!: () => void;
  const started = new Promise<void>((resolve) => (entered = resolve));
  let calls = 0;
  const agent: Agent = {
    name: 'gated',
    description: 'waits on its first call until released (test agent)',
    usesLlm: false,
    async run() {
      calls++;
      if (calls === 1) {
        entered();
        await released;
      }
      return { text: `answered on call ${calls}` };
    },
  };
  return { agent, release, started, calls: () => calls };
}

const realServer = databaseKinds.includes('postgres');
if (!realServer) {
  describe('database outage', () => {
    it.skip('needs a real PostgreSQL server: set DATABASE_URL (PGlite runs in-process and cannot go away)', () => {});
  });
}

describe.runIf(realServer)('database outage on postgres', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let sb: Switchboard;
  let direct: postgres.Sql;
  const lines: Line[] = [];
  const gated = gatedAsk();

  const request = async (path: string, init: RequestInit = {}) => {
    const res = await sb.app.request(path, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.headers as Record<string, string>) } });
    return { status: res.status, headers: res.headers, body: (await res.json().catch(() => undefined)) as any };
  };
  const hook = async (id: string, payload: unknown = { text: 'help' }) => {
    const started = performance.now();
    const res = await sb.app.request('/hooks/ci', signedHook(payload, { id }));
    return { id, status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as any, ms: performance.now() - started };
  };
  // A hooks delivery is kept under `<source>:<webhook-id>`.
  const stored = async (ids: string[]) =>
    (
      await direct<{ id: string }[]>`select delivery_id as id from deliveries where channel = 'hooks' and delivery_id in ${direct(ids.map((id) => `ci:${id}`))}`
    ).map((r) => r.id.slice('ci:'.length));
  const ready = () =>
    waitFor(
      () => request('/readyz'),
      (r) => r.status === 200,
      30_000,
    );
  const metric = async (name: string) => {
    const text = await (await sb.app.request('/metrics')).text();
    return text.split('\n').filter((l) => l.startsWith(name));
  };

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    const url = new URL(database.env.DATABASE_URL!);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    direct = postgres(url.toString(), { max: 2, onnotice: () => {} });
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const config = loadConfig({
      ADMIN_TOKEN,
      HOOK_SECRET_CI: HOOK_SECRET,
      RETRY_DELAY_SECONDS: '1',
      MAX_ATTEMPTS: '3',
      DATA_DIR: database.env.DATA_DIR!,
      DATABASE_URL: url.toString(),
      DB_POOL_SIZE: '4',
      DB_CONNECT_TIMEOUT_SECONDS: String(CONNECT_TIMEOUT_SECONDS),
      DB_ACQUIRE_TIMEOUT_MS: String(ACQUIRE_TIMEOUT_MS),
    });
    sb = await startSwitchboard(config, { listen: false, logger: capturingLogger(lines), agents: [...createAgents(), gated.agent] });
  }, 60_000);

  afterAll(async () => {
    gated.release();
    await proxy?.restore();
    await sb?.stop();
    await direct?.end();
    await proxy?.close();
    await database?.drop();
  }, 60_000);

  it('refuses deliveries with 503 and Retry-After in bounded time during an outage, acknowledges nothing it did not store, and recovers without a restart', async () => {
    const before = await hook('before-1');
    expect(before.status).toBe(202);

    await proxy.cut();
    const during = await Promise.all(Array.from({ length: 6 }, (_, i) => hook(`during-${i}`)));
    // A later request, once the outage is known, is refused at once without trying the database.
    during.push(await hook('during-late'));
    for (const r of during) {
      expect(r.status, JSON.stringify(r.body)).toBe(503);
      expect(r.body).toMatchObject({ error: { code: 'database_unavailable' } });
      expect(Number(r.retryAfter)).toBeGreaterThan(0);
      expect(r.ms).toBeLessThan(REFUSAL_BOUND_MS);
    }
    // A GitHub delivery refused the same way is counted for the operator (GitHub does not send it again).
    expect((await request('/healthz')).status).toBe(200);
    const notReady = await request('/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.body).toMatchObject({
      status: 'not_ready',
      failing: ['database'],
      checks: { database: { ok: false, refused: { byChannel: { hooks: 7 } } } },
    });
    expect(notReady.body.checks.database.outage.start).toBeTruthy();
    expect(await metric('switchboard_database_up ')).toEqual(['switchboard_database_up 0']);

    await proxy.restore();
    const back = await ready();
    expect(back.status).toBe(200);
    expect(back.body.checks.database).toMatchObject({ ok: true, refused: { count: 7 } });
    expect(back.body.checks.database.outage.end).toBeTruthy();
    expect(await metric('switchboard_database_up ')).toEqual(['switchboard_database_up 1']);
    const errors = await metric('switchboard_database_errors_total{kind="down"}');
    expect(Number(errors[0]?.split(' ')[1])).toBeGreaterThan(0);

    // Nothing refused was stored; what was acknowledged was.
    const refusedIds = during.map((r) => r.id);
    expect(await stored(refusedIds)).toEqual([]);
    expect(await stored(['before-1'])).toEqual(['before-1']);

    // The senders retry: every event is stored and answered exactly once.
    const retried = await Promise.all(refusedIds.map((id) => hook(id)));
    expect(retried.map((r) => r.status)).toEqual(refusedIds.map(() => 202));
    const all = ['before-1', ...refusedIds];
    const finished = await waitFor(
      () => direct<{ delivery_id: string; status: string; n: number }[]>`
        select substr(d.delivery_id, 4) as delivery_id, e.status, count(*) over (partition by d.delivery_id)::int as n
        from deliveries d join executions e on e.delivery_id = d.id
        where d.channel = 'hooks' and d.delivery_id in ${direct(all.map((id) => `ci:${id}`))}`,
      (rows) => rows.length === all.length && rows.every((r) => r.status === 'succeeded'),
      30_000,
    );
    expect(finished.map((r) => [r.delivery_id, r.status, r.n]).sort()).toEqual(all.map((id) => [id, 'succeeded', 1]).sort());

    // `status` tells the operator what was refused and when.
    const status = await request('/api/messages?wait=1', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'status', user_id: 'ops' }),
    });
    expect(status.status).toBe(200);
    expect(status.body.reply.text).toMatch(/Database: up; last outage from .+; 7 deliveries refused with 503 between .+ \(hooks 7\)/);

    // The outage wrote one warn line and one info line, not a stack per worker poll.
    const outageLines = lines.filter((l) => /database is unreachable|database answers again/.test(l.msg));
    expect(outageLines.map((l) => l.level)).toEqual(['warn', 'info']);
    expect(lines.filter((l) => l.msg === 'queue error')).toEqual([]);
  }, 90_000);

  it('an execution running when the database goes away completes exactly once after it comes back', async () => {
    const res = await hook('running-1', { agent: 'gated', text: 'go' });
    expect(res.status).toBe(202);
    const executionId = res.body.executions[0].id as string;
    await gated.started;
    await proxy.cut();
    gated.release(); // its answer cannot be stored now
    await waitFor(
      () => request('/readyz'),
      (r) => r.status === 503,
      10_000,
    );
    // The attempt must meet the outage before the database comes back, or it would simply store its answer.
    const failedAttempt = await waitFor(
      () => lines.some((l) => l.msg === 'could not store the answer of a failed attempt'),
      (seen) => seen,
    );
    expect(failedAttempt).toBe(true);
    await proxy.restore();
    await ready();
    const row = await waitFor(
      async () => (await direct<{ status: string; attempts: number }[]>`select status, attempts from executions where id = ${executionId}`)[0],
      (r) => r?.status === 'succeeded',
      60_000,
    );
    expect(row).toMatchObject({ status: 'succeeded' });
    expect(row!.attempts).toBeLessThanOrEqual(3);
    const answers = await direct<{ n: number }[]>`select count(*)::int as n from messages where execution_id = ${executionId} and role = 'assistant'`;
    expect(answers[0]!.n).toBe(1);
    expect(gated.calls()).toBe(2);
    // Two outages so far, each one warn and one info line.
    const outageLines = lines.filter((l) => /database is unreachable|database answers again/.test(l.msg));
    expect(outageLines.map((l) => l.level)).toEqual(['warn', 'info', 'warn', 'info']);
  }, 90_000);

  it('refuses with 503 past the wait bound when every connection is taken, and takes the waiting deliveries once it frees', async () => {
    // Another session locks the deliveries table: every ingest transaction holds its connection while it waits.
    const lock = await direct.reserve();
    await lock`begin`;
    await lock`lock table deliveries in access exclusive mode`;
    try {
      const lockWaiters = async () =>
        (await direct<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`)[0]!.n;
      // One at a time: deliveries sent together would join one group commit and hold one connection between them.
      const holding: ReturnType<typeof hook>[] = [];
      for (let i = 0; i < 4; i++) {
        holding.push(hook(`busy-${i}`));
        await waitFor(lockWaiters, (n) => n > i, 10_000);
      }
      expect(await lockWaiters()).toBe(4);
      const refused = await hook('busy-refused');
      expect(refused.status).toBe(503);
      expect(refused.body).toMatchObject({ error: { code: 'database_unavailable' } });
      expect(refused.body.error.message).toMatch(/busy/);
      expect(Number(refused.retryAfter)).toBeGreaterThan(0);
      expect(refused.ms).toBeLessThan(REFUSAL_BOUND_MS);
      // Busy is load, not an outage: readiness stays 200.
      expect((await request('/readyz')).status).toBe(200);
      await lock`commit`;
      expect((await Promise.all(holding)).map((r) => r.status)).toEqual([202, 202, 202, 202]);
    } finally {
      await lock`rollback`.catch(() => {});
      lock.release();
    }
    expect(await stored(['busy-refused'])).toEqual([]);
    const busy = await metric('switchboard_database_errors_total{kind="busy"}');
    expect(Number(busy[0]?.split(' ')[1])).toBeGreaterThan(0);
  }, 60_000);
});
