/**
 * Scale benchmark (issue: scale-out): ingest throughput and ack latency of signed /hooks/:source and Slack
 * mentions on /slack/events at 50 connections, against a bare Hono floor doing the same signature checks;
 * end-to-end event→reply latency of an `ask` with the offline provider; worker drain rate (replies to Slack go
 * to a fake Slack API); RSS. On PGlite and, when reachable, PostgreSQL.
 *
 * Env: BENCH_SECONDS (default 10), BENCH_CONNECTIONS (50), BENCH_PG_URL (default the local server).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { BOT_TOKEN, SIGNING_SECRET, startFakeSlack } from '../../test/fakes/slack-api.ts';
import { hammerHooks, hammerSlack } from './lib/hammer.ts';
import { summarize } from './lib/stats.ts';
import { BENCH_TOKEN, rssMb, startFloor, startSwitchboard } from './lib/process.ts';

const SECRET = `whsec_${Buffer.from('switchboard-bench-secret-32-bytes').toString('base64')}`;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const PG_ADMIN = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const load = { connections: CONNECTIONS, seconds: SECONDS };
const hammer = (base: string) => hammerHooks(base, { ...load, secret: SECRET });
const hammerSlackEvents = (base: string) => hammerSlack(base, { ...load, secret: SIGNING_SECRET });

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
      // A question, so the ask agent and the offline provider run, with the conversation's history read.
      body: JSON.stringify({ text: `why did deploy ${i} take so long?`, user_id: `u${i % 50}`, conversation_id: `bench-${i % 10}` }),
    });
    if (res.status !== 200) throw new Error(`reply latency: HTTP ${res.status}`);
    await res.arrayBuffer();
    if (i >= 20) samples.push(performance.now() - t);
  }
  return summarize(samples);
}

async function onDatabase(kind: 'pglite' | 'postgres', floor: { hooks: number; slack: number }, slackApiUrl: string) {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-scale-'));
  let dbName: string | undefined;
  let admin: postgres.Sql | undefined;
  const env: Record<string, string> = { DATA_DIR: dataDir, HOOK_SECRET_BENCH: SECRET, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: slackApiUrl };
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
    const slack = await hammerSlackEvents(web.base!);
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
      ofFloor: Math.round((ingest.rps / floor.hooks) * 100),
      ackP50: ingest.p50,
      ackP99: ingest.p99,
      non2xx: ingest.non2xx + slack.non2xx,
      slack: { rps: slack.rps, ofFloor: Math.round((slack.rps / floor.slack) * 100), p50: slack.p50, p99: slack.p99 },
      executions: ingest.ok + slack.ok,
      drainPerSecond: Math.round((ingest.ok + slack.ok) / drainSeconds),
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
  const fakeSlack = await startFakeSlack();
  try {
    const floorProc = await startFloor(SECRET, SIGNING_SECRET);
    const floor = await hammer(floorProc.base!);
    const floorSlack = await hammerSlackEvents(floorProc.base!);
    const floorRss = rssMb(floorProc.child.pid);
    await floorProc.stop();
    const kinds: ('pglite' | 'postgres')[] = (await postgresReachable()) ? ['pglite', 'postgres'] : ['pglite'];
    const results = [];
    for (const kind of kinds) results.push(await onDatabase(kind, { hooks: floor.rps, slack: floorSlack.rps }, fakeSlack.apiUrl));
    const rows = [
      {
        setup: 'bare Hono + signature checks (floor)',
        'hooks req/s (% floor)': `${floor.rps} (100)`,
        'hooks ack p50/p99 ms': `${floor.p50} / ${floor.p99}`,
        'slack req/s (% floor)': `${floorSlack.rps} (100)`,
        'slack ack p50/p99 ms': `${floorSlack.p50} / ${floorSlack.p99}`,
        'drain exec/s': '',
        'ask reply p50/p99 ms': '',
        'RSS MB': floorRss,
      },
      ...results.map((r) => ({
        setup: `switchboard on ${r.kind} (web role; drain: ${r.workers} ${r.kind === 'postgres' ? 'worker processes' : 'embedded process'})`,
        'hooks req/s (% floor)': `${r.ingestRps} (${r.ofFloor})`,
        'hooks ack p50/p99 ms': `${r.ackP50} / ${r.ackP99}`,
        'slack req/s (% floor)': `${r.slack.rps} (${r.slack.ofFloor})`,
        'slack ack p50/p99 ms': `${r.slack.p50} / ${r.slack.p99}`,
        'drain exec/s': r.drainPerSecond,
        'ask reply p50/p99 ms': `${r.replyP50} / ${r.replyP99}`,
        'RSS MB': `web ${r.rssMb.web}, workers ${r.rssMb.workers.join('+')}, all ${r.rssMb.all}`,
      })),
    ];
    return { rows, data: { connections: CONNECTIONS, seconds: SECONDS, floor: { hooks: floor, slack: floorSlack }, results } };
  } finally {
    await fakeSlack.close();
  }
}
