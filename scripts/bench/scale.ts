/**
 * Scale benchmark (issue 13): each goal measured side by side with its peer in the same run.
 * - Slack `/sb <question>` slash commands (one person per request) on /slack/events at 50 connections, stored,
 *   against a bare Bolt app (the project's own @slack/bolt, HTTPReceiver) that only acks;
 * - signed /hooks/:source events, stored, against bare Hono doing the same signature check;
 * - web CPU per stored event (process.cpuUsage() of the web process, read from its /metrics);
 * - drain of what was ingested: 2 worker processes on PostgreSQL (with commits per execution from
 *   pg_stat_database), the one embedded process on PGlite; replies go to a fake Slack;
 * - `ask` reply latency, RSS, and start to /readyz on a fresh and a warm DATA_DIR.
 * On PGlite and, when reachable, PostgreSQL.
 *
 * Env: BENCH_SECONDS (default 10), BENCH_CONNECTIONS (50), BENCH_PG_URL (default the local server),
 * BENCH_CPU_PROF (a directory: the web processes and the draining processes run under `node --cpu-prof`, and the
 * top frames of each are printed), BENCH_DATABASES (default `pglite,postgres`).
 * Where the cores go: CPU ms per request of the load generator (this process), of the peer or web process
 * (/proc/<pid>/stat) and of PostgreSQL's backends for the benchmark database.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { BOT_TOKEN, SIGNING_SECRET, startFakeSlack } from '../../test/fakes/slack-api.ts';
import { hammerHooks, hammerSlack } from './lib/hammer.ts';
import { topFrames } from './lib/profile.ts';
import { summarize } from './lib/stats.ts';
import { BENCH_TOKEN, backendCpuMs, backendCpuSpent, cpuSeconds, procCpuMs, rssMb, startPeer, startSwitchboard } from './lib/process.ts';

const SECRET = `whsec_${Buffer.from('switchboard-bench-secret-32-bytes').toString('base64')}`;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const PG_ADMIN = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PROFILE_DIR = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : undefined;

const load = { connections: CONNECTIONS, seconds: SECONDS };
const DATABASES = (process.env.BENCH_DATABASES ?? 'pglite,postgres').split(',');

/** CPU ms per answered request of the load generator (this process) and, when given, of the process under load. */
async function budgeted<T extends { ok: number; non2xx: number }>(pid: number | undefined, hammer: () => Promise<T>) {
  const served = procCpuMs(pid);
  const generator = process.cpuUsage();
  const result = await hammer();
  const { user, system } = process.cpuUsage(generator);
  const requests = result.ok + result.non2xx;
  const perRequest = (ms: number) => Math.round((ms / requests) * 1000) / 1000;
  return { ...result, generatorCpuMs: perRequest((user + system) / 1000), serverCpuMs: perRequest(procCpuMs(pid) - served) };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Seconds from `start` (taken before the workers were spawned, so start-up counts against them) until nothing waits. */
async function waitDrained(start: number, depth: () => Promise<number>, timeoutMs = 600_000) {
  for (;;) {
    if ((await depth()) === 0) return (performance.now() - start) / 1000;
    if (performance.now() - start > timeoutMs) throw new Error('queue did not drain');
    await sleep(100);
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

/** Start to /readyz of an `all` process on embedded PGlite with no channel configured: a fresh DATA_DIR, then the same one again. */
async function startTimes() {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-start-'));
  try {
    const fresh = await startSwitchboard('all', { DATA_DIR: dataDir });
    await fresh.stop();
    const warm = await startSwitchboard('all', { DATA_DIR: dataDir });
    const rss = rssMb(warm.child.pid);
    await warm.stop();
    return { freshMs: fresh.startMs, warmMs: warm.startMs, idleRssMb: rss };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function onDatabase(kind: 'pglite' | 'postgres', peers: { hooks: number; slack: number }, slackApi: { apiUrl: string; responseUrl(id: string): string }) {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-scale-'));
  let dbName: string | undefined;
  let admin: postgres.Sql | undefined;
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    HOOK_SECRET_BENCH: SECRET,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_API_URL: slackApi.apiUrl,
  };
  if (kind === 'postgres') {
    admin = postgres(PG_ADMIN, { max: 1, onnotice: () => {} });
    dbName = `sb_bench_${Date.now()}`;
    await admin.unsafe(`create database ${dbName}`);
    const url = new URL(PG_ADMIN);
    url.pathname = `/${dbName}`;
    env.DATABASE_URL = url.toString();
  }
  const commits = async () => Number((await admin!`select xact_commit::bigint as n from pg_stat_database where datname = ${dbName!}`)[0]!.n);
  try {
    // Ingest only: a web process acks and stores; nothing runs the executions yet.
    const cpuProfileDir = PROFILE_DIR && join(PROFILE_DIR, kind);
    if (cpuProfileDir) mkdirSync(cpuProfileDir, { recursive: true });
    const web = await startSwitchboard('web', env, { cpuProfileDir });
    const cpuBefore = await cpuSeconds(web.base!);
    const postgresBefore = admin && (await backendCpuMs(admin, dbName!));
    const ingest = await budgeted(web.child.pid, () => hammerHooks(web.base!, { ...load, secret: SECRET }));
    const postgresHooks = admin && (await backendCpuMs(admin, dbName!));
    const slack = await budgeted(web.child.pid, () => hammerSlack(web.base!, { ...load, secret: SIGNING_SECRET, responseUrl: slackApi.responseUrl }));
    const postgresSlack = admin && (await backendCpuMs(admin, dbName!));
    const stored = ingest.ok + slack.ok;
    const cpuMsPerEvent = (((await cpuSeconds(web.base!)) - cpuBefore) * 1000) / stored;
    // PostgreSQL's backends for this database, per stored event of each load (its shared WAL writer not counted).
    const postgresCpuMs =
      postgresBefore && postgresHooks && postgresSlack
        ? {
            hooks: Math.round((backendCpuSpent(postgresBefore, postgresHooks) / ingest.ok) * 1000) / 1000,
            slack: Math.round((backendCpuSpent(postgresHooks, postgresSlack) / slack.ok) * 1000) / 1000,
          }
        : undefined;
    const webRss = rssMb(web.child.pid);
    await web.stop();

    // Drain what was ingested: 2 worker processes on PostgreSQL, the single embedded process on PGlite.
    const drainProfileDir = cpuProfileDir && join(cpuProfileDir, 'drain');
    if (drainProfileDir) mkdirSync(drainProfileDir, { recursive: true });
    const drainOpts = { cpuProfileDir: drainProfileDir };
    let drainSeconds: number;
    let workerRss: number[];
    let commitsPerExecution: number | undefined;
    if (kind === 'postgres') {
      const db = postgres(env.DATABASE_URL!, { max: 1, onnotice: () => {} });
      const depth = async () => Number((await db`select count(*)::int as n from executions where status in ('queued','failed','running')`)[0]!.n);
      await sleep(1000); // PostgreSQL 15 publishes a backend's counters up to a second after its commits
      const commitsBefore = await commits();
      const start = performance.now();
      const workers = await Promise.all([startSwitchboard('worker', env, drainOpts), startSwitchboard('worker', env, drainOpts)]);
      drainSeconds = await waitDrained(start, depth);
      workerRss = workers.map((w) => rssMb(w.child.pid));
      await Promise.all(workers.map((w) => w.stop()));
      await db.end();
      await sleep(1000);
      commitsPerExecution = Math.round((((await commits()) - commitsBefore) / stored) * 100) / 100;
    } else {
      const start = performance.now();
      const all = await startSwitchboard('all', env, drainOpts);
      const depth = async () => ((await (await fetch(`${all.base}/readyz`)).json()) as any).checks.queue.depth as number;
      drainSeconds = await waitDrained(start, depth);
      workerRss = [rssMb(all.child.pid)];
      await all.stop();
    }

    const all = await startSwitchboard('all', env);
    const latency = await replyLatency(all.base!);
    const allRss = rssMb(all.child.pid);
    await all.stop();

    // The embedded default takes events and runs them in one process: ingest on an `all` process, its worker busy
    // with what it stores meanwhile.
    let allIngest: { hooks: number; slack: number } | undefined;
    if (kind === 'pglite') {
      // A data directory of its own: the load generators' delivery ids would be duplicates in the first one.
      const ownDir = mkdtempSync(join(tmpdir(), 'switchboard-scale-all-'));
      try {
        const one = await startSwitchboard('all', { ...env, DATA_DIR: ownDir });
        const hooks = await hammerHooks(one.base!, { ...load, secret: SECRET });
        const slack = await hammerSlack(one.base!, { ...load, secret: SIGNING_SECRET, responseUrl: slackApi.responseUrl });
        await one.stop();
        allIngest = { hooks: hooks.rps, slack: slack.rps };
      } finally {
        rmSync(ownDir, { recursive: true, force: true });
      }
    }

    // A web process with no platform channel enabled (only the database): what it costs at rest.
    let bareWebRss: number | undefined;
    if (kind === 'postgres') {
      const bare = await startSwitchboard('web', { DATA_DIR: dataDir, DATABASE_URL: env.DATABASE_URL! });
      bareWebRss = rssMb(bare.child.pid);
      await bare.stop();
    }
    return {
      kind,
      hooks: {
        rps: ingest.rps,
        ofPeer: ingest.rps / peers.hooks,
        p50: ingest.p50,
        p99: ingest.p99,
        webCpuMs: ingest.serverCpuMs,
        generatorCpuMs: ingest.generatorCpuMs,
      },
      slack: {
        rps: slack.rps,
        ofPeer: slack.rps / peers.slack,
        p50: slack.p50,
        p99: slack.p99,
        webCpuMs: slack.serverCpuMs,
        generatorCpuMs: slack.generatorCpuMs,
      },
      postgresCpuMs,
      non2xx: ingest.non2xx + slack.non2xx,
      errors: ingest.errors + slack.errors,
      executions: stored,
      cpuMsPerEvent: Math.round(cpuMsPerEvent * 1000) / 1000,
      drainPerSecond: Math.round(stored / drainSeconds),
      commitsPerExecution,
      workers: workerRss.length,
      allIngest,
      replyP50: latency.p50,
      replyP99: latency.p99,
      rssMb: { web: webRss, bareWeb: bareWebRss, workers: workerRss, all: allRss },
      topFrames: cpuProfileDir ? topFrames(cpuProfileDir) : undefined,
      topPackages: cpuProfileDir ? topFrames(cpuProfileDir, 12, 'file') : undefined,
      drainTopFrames: drainProfileDir ? topFrames(drainProfileDir) : undefined,
      drainTopPackages: drainProfileDir ? topFrames(drainProfileDir, 12, 'file') : undefined,
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

const ratio = (x: number) => `${x.toFixed(2)}×`;

export async function run() {
  const fakeSlack = await startFakeSlack();
  try {
    const floor = await startPeer('floor-server', { SECRET });
    const floorHooks = await budgeted(floor.child.pid, () => hammerHooks(floor.base!, { ...load, secret: SECRET }));
    const floorRss = rssMb(floor.child.pid);
    await floor.stop();
    const bolt = await startPeer('bolt-server', { SLACK_SECRET: SIGNING_SECRET });
    const boltSlack = await budgeted(bolt.child.pid, () => hammerSlack(bolt.base!, { ...load, secret: SIGNING_SECRET, responseUrl: fakeSlack.responseUrl }));
    const boltRss = rssMb(bolt.child.pid);
    await bolt.stop();
    const start = await startTimes();
    const reachable: ('pglite' | 'postgres')[] = (await postgresReachable()) ? ['pglite', 'postgres'] : ['pglite'];
    const kinds = reachable.filter((kind) => DATABASES.includes(kind));
    const results = [];
    for (const kind of kinds) results.push(await onDatabase(kind, { hooks: floorHooks.rps, slack: boltSlack.rps }, fakeSlack));
    const rows = [
      {
        setup: 'peers: bare Hono + signature check (hooks), bare Bolt ack-only (Slack)',
        'Slack req/s (× Bolt)': `${boltSlack.rps} (1×)`,
        'Slack p50/p99 ms': `${boltSlack.p50} / ${boltSlack.p99}`,
        'hooks req/s (× Hono)': `${floorHooks.rps} (1×)`,
        'hooks p50/p99 ms': `${floorHooks.p50} / ${floorHooks.p99}`,
        'web CPU ms/event': '',
        'drain exec/s': '',
        'commits/exec': '',
        'RSS MB': `Hono ${floorRss}, Bolt ${boltRss}`,
      },
      ...results.map((r) => ({
        setup: `switchboard on ${r.kind} (1 web process; drain: ${r.workers} ${r.kind === 'postgres' ? 'worker processes' : 'embedded process'})`,
        'Slack req/s (× Bolt)': `${r.slack.rps} (${ratio(r.slack.ofPeer)})`,
        'Slack p50/p99 ms': `${r.slack.p50} / ${r.slack.p99}`,
        'hooks req/s (× Hono)': `${r.hooks.rps} (${ratio(r.hooks.ofPeer)})`,
        'hooks p50/p99 ms': `${r.hooks.p50} / ${r.hooks.p99}`,
        'web CPU ms/event': r.cpuMsPerEvent,
        'drain exec/s': r.drainPerSecond,
        'commits/exec': r.commitsPerExecution ?? '',
        'RSS MB': `web ${r.rssMb.web}${r.rssMb.bareWeb ? ` (no channel: ${r.rssMb.bareWeb})` : ''}, workers ${r.rssMb.workers.join('+')}, all ${r.rssMb.all}`,
      })),
      ...results.flatMap((r) =>
        r.allIngest
          ? [
              {
                setup: `switchboard on ${r.kind}, one \`all\` process (its worker draining meanwhile): ingest Slack ${r.allIngest.slack} req/s, hooks ${r.allIngest.hooks} req/s`,
              },
            ]
          : [],
      ),
      {
        setup: `CPU ms per request (load generator / server${results.some((r) => r.postgresCpuMs) ? ' / PostgreSQL backends' : ''}): peers Slack ${boltSlack.generatorCpuMs} / ${boltSlack.serverCpuMs}, hooks ${floorHooks.generatorCpuMs} / ${floorHooks.serverCpuMs}; ${results
          .map(
            (r) =>
              `${r.kind} Slack ${r.slack.generatorCpuMs} / ${r.slack.webCpuMs}${r.postgresCpuMs ? ` / ${r.postgresCpuMs.slack}` : ''}, hooks ${r.hooks.generatorCpuMs} / ${r.hooks.webCpuMs}${r.postgresCpuMs ? ` / ${r.postgresCpuMs.hooks}` : ''}`,
          )
          .join('; ')}`,
      },
      {
        setup: `start to /readyz, embedded PGlite: fresh ${start.freshMs} ms, warm ${start.warmMs} ms (idle RSS ${start.idleRssMb} MB); ask reply p50/p99: ${results.map((r) => `${r.kind} ${r.replyP50} / ${r.replyP99} ms`).join(', ')}`,
      },
    ];
    for (const r of results) {
      if (r.topFrames) {
        console.log(`\nweb process on ${r.kind}, top frames by self time (%):`);
        console.table(r.topFrames);
        console.table(r.topPackages);
      }
      if (r.drainTopFrames) {
        console.log(`\ndrain (${r.workers} ${r.kind === 'postgres' ? 'worker processes' : 'embedded process'}) on ${r.kind}, top frames by self time (%):`);
        console.table(r.drainTopFrames);
        console.table(r.drainTopPackages);
      }
    }
    return {
      rows,
      data: {
        connections: CONNECTIONS,
        seconds: SECONDS,
        peers: { hooks: floorHooks, slack: boltSlack, rssMb: { hono: floorRss, bolt: boltRss } },
        start,
        results,
      },
    };
  } finally {
    await fakeSlack.close();
  }
}
