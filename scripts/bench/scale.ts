/**
 * Scale benchmark (issue: scale-out): ingest throughput and ack latency of signed /hooks/:source at 50
 * connections against a bare Hono floor doing the same signature check; end-to-end event→reply latency
 * with the offline provider; worker drain rate; RSS. On PGlite and, when reachable, PostgreSQL.
 *
 * Env: BENCH_SECONDS (default 10), BENCH_CONNECTIONS (50), BENCH_PG_URL (default the local server).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { hammerHooks } from './lib/hammer.ts';
import { summarize } from './lib/stats.ts';
import { BENCH_TOKEN, rssMb, startFloor, startSwitchboard } from './lib/process.ts';

const SECRET = `whsec_${Buffer.from('switchboard-bench-secret-32-bytes').toString('base64')}`;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const PG_ADMIN = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const hammer = (base: string) => hammerHooks(base, { secret: SECRET, connections: CONNECTIONS, seconds: SECONDS });

/** Seconds from `start` (taken before the workers were spawned, so start-up counts against them) until nothing waits. */
async function waitDrained(start: number, depth: () => Promise<number>, timeoutMs = 600_000) {
  for (;;) {
    if ((await depth()) === 0) return (performance.now() - start) / 1000;
    if (performance.now() - start > timeoutMs) throw new Error('queue did not drain');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function replyLatency(base: string, n = 200) {
  const samples: number[] = [];
  for (let i = 0; i < n + 20; i++) {
    const t = performance.now();
    const res = await fetch(`${base}/api/messages?wait=1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'help', user_id: `u${i % 50}` }),
    });
    if (res.status !== 200) throw new Error(`reply latency: HTTP ${res.status}`);
    await res.arrayBuffer();
    if (i >= 20) samples.push(performance.now() - t);
  }
  return summarize(samples);
}

async function onDatabase(kind: 'pglite' | 'postgres', floorRps: number) {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-scale-'));
  let dbName: string | undefined;
  let admin: postgres.Sql | undefined;
  const env: Record<string, string> = { DATA_DIR: dataDir, HOOK_SECRET_BENCH: SECRET };
  if (kind === 'postgres') {
    admin = postgres(PG_ADMIN, { max: 1, onnotice: () => {} });
    dbName = `sb_bench_${Date.now()}`;
    await admin.unsafe(`create database ${dbName}`);
    const url = new URL(PG_ADMIN);
    url.pathname = `/${dbName}`;
    env.DATABASE_URL = url.toString();
  }
  try {
    // Ingest only: a web process acks and stores; nothing runs the executions yet.
    const web = await startSwitchboard('web', env);
    const ingest = await hammer(web.base!);
    const webRss = rssMb(web.child.pid);
    await web.stop();

    // Drain what was ingested: 2 worker processes on PostgreSQL, the single embedded process on PGlite.
    let drainSeconds: number;
    let workerRss: number[];
    if (kind === 'postgres') {
      const db = postgres(env.DATABASE_URL!, { max: 1, onnotice: () => {} });
      const depth = async () => Number((await db`select count(*)::int as n from executions where status in ('queued','failed','running')`)[0]!.n);
      const start = performance.now();
      const workers = await Promise.all([startSwitchboard('worker', env), startSwitchboard('worker', env)]);
      drainSeconds = await waitDrained(start, depth);
      workerRss = workers.map((w) => rssMb(w.child.pid));
      await Promise.all(workers.map((w) => w.stop()));
      await db.end();
    } else {
      const start = performance.now();
      const all = await startSwitchboard('all', env);
      const depth = async () => ((await (await fetch(`${all.base}/readyz`)).json()) as any).checks.queue.depth as number;
      drainSeconds = await waitDrained(start, depth);
      workerRss = [rssMb(all.child.pid)];
      await all.stop();
    }

    const all = await startSwitchboard('all', env);
    const latency = await replyLatency(all.base!);
    const allRss = rssMb(all.child.pid);
    await all.stop();
    return {
      kind,
      ingestRps: ingest.rps,
      ofFloor: Math.round((ingest.rps / floorRps) * 100),
      ackP50: ingest.p50,
      ackP99: ingest.p99,
      non2xx: ingest.non2xx,
      executions: ingest.ok,
      drainPerSecond: Math.round(ingest.ok / drainSeconds),
      workers: workerRss.length,
      replyP50: latency.p50,
      replyP99: latency.p99,
      rssMb: { web: webRss, workers: workerRss, all: allRss },
    };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    if (admin && dbName) {
      await admin.unsafe(`drop database if exists ${dbName} with (force)`).catch(() => {});
      await admin.end();
    }
  }
}

async function postgresReachable() {
  const sql = postgres(PG_ADMIN, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end().catch(() => {});
  }
}

export async function run() {
  const floorProc = await startFloor(SECRET);
  const floor = await hammer(floorProc.base!);
  const floorRss = rssMb(floorProc.child.pid);
  await floorProc.stop();
  const kinds: ('pglite' | 'postgres')[] = (await postgresReachable()) ? ['pglite', 'postgres'] : ['pglite'];
  const results = [];
  for (const kind of kinds) results.push(await onDatabase(kind, floor.rps));
  const rows = [
    { setup: 'bare Hono + signature check (floor)', 'ingest req/s': floor.rps, '% of floor': 100, 'ack p50 ms': floor.p50, 'ack p99 ms': floor.p99, 'drain exec/s': '', 'reply p50/p99 ms': '', 'RSS MB': floorRss },
    ...results.map((r) => ({
      setup: `switchboard on ${r.kind} (web role; drain: ${r.workers} ${r.kind === 'postgres' ? 'worker processes' : 'embedded process'})`,
      'ingest req/s': r.ingestRps,
      '% of floor': r.ofFloor,
      'ack p50 ms': r.ackP50,
      'ack p99 ms': r.ackP99,
      'drain exec/s': r.drainPerSecond,
      'reply p50/p99 ms': `${r.replyP50} / ${r.replyP99}`,
      'RSS MB': `web ${r.rssMb.web}, workers ${r.rssMb.workers.join('+')}, all ${r.rssMb.all}`,
    })),
  ];
  return { rows, data: { connections: CONNECTIONS, seconds: SECONDS, floor, results } };
}
