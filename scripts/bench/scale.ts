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
 * top frames of each are printed).
 * BENCH_ONLY=drain: the drain alone, in about a minute: BENCH_DRAIN_EVENTS (default 20,000) events stored by a web
 * process, then drained, with the draining processes' start-up reported apart from the drain after it, and their
 * CPU time. BENCH_DB (`postgres` or `pglite`) picks one database. BENCH_ROUND_TRIPS=1 puts the workers behind a relay
 * that counts their round trips to PostgreSQL, statement by statement (it costs some throughput; both modes).
 * Where the cores go: CPU ms per request of the load generator (this process), of the peer or web process
 * (/proc/<pid>/stat) and of PostgreSQL's backends for the benchmark database.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { BOT_TOKEN, SIGNING_SECRET, startFakeSlack } from '../../test/fakes/slack-api.ts';
import { roundTripsBetween, startRoundTripCounter, type RoundTrips } from '../../test/support/round-trips.ts';
import { hammerHooks, hammerSlack } from './lib/hammer.ts';
import { topFrames } from './lib/profile.ts';
import { summarize } from './lib/stats.ts';
import { BENCH_TOKEN, backendCpuMs, backendCpuSpent, cpuSeconds, procCpuMs, rssMb, startPeer, startSwitchboard } from './lib/process.ts';

const SECRET = `whsec_${Buffer.from('switchboard-bench-secret-32-bytes').toString('base64')}`;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const PG_ADMIN = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PROFILE_DIR = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : undefined;
const ONLY = process.env.BENCH_ONLY;
const DRAIN_EVENTS = Number(process.env.BENCH_DRAIN_EVENTS ?? 20_000);
const ONLY_DB = process.env.BENCH_DB as 'postgres' | 'pglite' | undefined;
const COUNT_ROUND_TRIPS = process.env.BENCH_ROUND_TRIPS === '1';
/** The worker's default WORKER_CONCURRENCY, fetched as two batches of half of it (db/queue.ts). */
const BATCH_SIZE = 16;

const load = { connections: CONNECTIONS, seconds: SECONDS };

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

type SlackApi = { apiUrl: string; responseUrl(id: string): string };
type Counters = { commits: number; buffers: number };
type Kind = 'pglite' | 'postgres';

/**
 * A fresh DATA_DIR, and on PostgreSQL a fresh database; `counters` reads its commits (`xact_commit`) and the
 * shared buffers its statements touched (`blks_hit + blks_read`: the database's work, whatever else loads the
 * machine) over a connection to another database, so reading them commits nothing in this one.
 */
async function benchDatabase(kind: Kind, slackApi: SlackApi) {
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
  return {
    env,
    dataDir,
    async counters(): Promise<Counters> {
      const [row] =
        await admin!`select xact_commit::bigint as commits, (blks_hit + blks_read)::bigint as buffers from pg_stat_database where datname = ${dbName!}`;
      return { commits: Number(row!.commits), buffers: Number(row!.buffers) };
    },
    /** CPU ms so far of each PostgreSQL backend of this database, by pid (none on PGlite). */
    backendCpu: async () => (admin ? backendCpuMs(admin, dbName!) : undefined),
    async dispose() {
      rmSync(dataDir, { recursive: true, force: true });
      if (admin && dbName) {
        await admin.unsafe(`drop database if exists ${dbName} with (force)`).catch(() => {});
        await admin.end();
      }
    },
  };
}

const round = (x: number, places = 2) => Math.round(x * 10 ** places) / 10 ** places;

/** The statements behind `trips`, heaviest first, each as round trips per execution and the mean wait of one. */
function perExecution(trips: RoundTrips, waits: RoundTrips, executions: number) {
  return Object.entries(trips)
    .flatMap(([application, byStatement]) =>
      Object.entries(byStatement).map(([statement, n]) => ({
        application,
        statement,
        perExecution: round(n / executions, 3),
        meanWaitMs: round((waits[application]?.[statement] ?? 0) / n),
      })),
    )
    .filter((r) => r.perExecution >= 0.001)
    .sort((a, b) => b.perExecution - a.perExecution);
}

/**
 * Drains what a web process stored (`stored` executions): 2 worker processes on PostgreSQL, the one embedded
 * process on PGlite. The processes' start-up counts against the drain (`perSecond`); `afterStartPerSecond` is what
 * they drained once every one of them answered /readyz. CPU is the draining processes' own (process.cpuUsage()).
 */
async function drainStored(kind: Kind, env: Record<string, string>, stored: number, counters: () => Promise<Counters>, cpuProfileDir?: string) {
  if (cpuProfileDir) mkdirSync(cpuProfileDir, { recursive: true });
  const opts = { cpuProfileDir };
  const counter = COUNT_ROUND_TRIPS && kind === 'postgres' ? await startRoundTripCounter(env.DATABASE_URL!) : undefined;
  const db = kind === 'postgres' ? postgres(env.DATABASE_URL!, { max: 1, onnotice: () => {} }) : undefined;
  try {
    let before: Counters | undefined;
    if (db) {
      await sleep(1000); // PostgreSQL 15 publishes a backend's counters up to a second after its commits
      before = await counters();
    }
    const start = performance.now();
    const processes =
      kind === 'postgres'
        ? await Promise.all([0, 1].map(() => startSwitchboard('worker', counter ? { ...env, DATABASE_URL: counter.url } : env, opts)))
        : [await startSwitchboard('all', env, opts)];
    const depth = db
      ? async () => Number((await db`select count(*)::int as n from executions where status in ('queued','failed','running')`)[0]!.n)
      : async () => ((await (await fetch(`${processes[0]!.base}/readyz`)).json()) as any).checks.queue.depth as number;
    const readyAt = performance.now();
    const tripsAtReady = counter?.counts();
    const waitsAtReady = counter?.waits();
    const leftAtReady = await depth();
    const seconds = await waitDrained(start, depth);
    const tripsAtEnd = counter?.counts();
    const waitsAtEnd = counter?.waits();
    const cpu = await Promise.all(processes.map((p) => cpuSeconds(p.base!)));
    const rss = processes.map((p) => rssMb(p.child.pid));
    await Promise.all(processes.map((p) => p.stop()));
    let commitsPerExecution: number | undefined;
    let buffersPerExecution: number | undefined;
    if (before) {
      await sleep(1000);
      const after = await counters();
      commitsPerExecution = round((after.commits - before.commits) / stored);
      buffersPerExecution = Math.round((after.buffers - before.buffers) / stored);
    }
    const afterStart = seconds - (readyAt - start) / 1000;
    const steady = tripsAtReady && tripsAtEnd && leftAtReady ? roundTripsBetween(tripsAtReady, tripsAtEnd) : undefined;
    const steadyTotal = steady ? Object.values(steady).reduce((a, s) => a + Object.values(s).reduce((x, y) => x + y, 0), 0) : 0;
    return {
      seconds: round(seconds),
      perSecond: Math.round(stored / seconds),
      startSeconds: round((readyAt - start) / 1000),
      leftAtReady,
      afterStartPerSecond: leftAtReady && afterStart > 0 ? Math.round(leftAtReady / afterStart) : undefined,
      commitsPerExecution,
      buffersPerExecution,
      cpuMsPerExecution: round((cpu.reduce((a, b) => a + b, 0) * 1000) / stored),
      /** Each process's CPU seconds over the drain's wall time (start-up included): how busy it was. */
      busy: cpu.map((c) => round(c / seconds)),
      rssMb: rss,
      roundTrips: steady && {
        perExecution: round(steadyTotal / leftAtReady, 3),
        perBatch: round((steadyTotal / leftAtReady) * BATCH_SIZE, 1),
        statements: perExecution(steady, roundTripsBetween(waitsAtReady!, waitsAtEnd!), leftAtReady),
      },
      topFrames: cpuProfileDir ? topFrames(cpuProfileDir) : undefined,
      topPackages: cpuProfileDir ? topFrames(cpuProfileDir, 12, 'file') : undefined,
    };
  } finally {
    await db?.end();
    await counter?.close();
  }
}

async function onDatabase(kind: Kind, peers: { hooks: number; slack: number }, slackApi: SlackApi) {
  const { env, dataDir, counters, backendCpu, dispose } = await benchDatabase(kind, slackApi);
  try {
    // Ingest only: a web process acks and stores; nothing runs the executions yet.
    const cpuProfileDir = PROFILE_DIR && join(PROFILE_DIR, kind);
    if (cpuProfileDir) mkdirSync(cpuProfileDir, { recursive: true });
    const web = await startSwitchboard('web', env, { cpuProfileDir });
    const cpuBefore = await cpuSeconds(web.base!);
    const postgresBefore = await backendCpu();
    const ingest = await budgeted(web.child.pid, () => hammerHooks(web.base!, { ...load, secret: SECRET }));
    const postgresHooks = await backendCpu();
    const slack = await budgeted(web.child.pid, () => hammerSlack(web.base!, { ...load, secret: SIGNING_SECRET, responseUrl: slackApi.responseUrl }));
    const postgresSlack = await backendCpu();
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

    const drainProfileDir = cpuProfileDir && join(cpuProfileDir, 'drain');
    const drain = await drainStored(kind, env, stored, counters, drainProfileDir);

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
      drainPerSecond: drain.perSecond,
      commitsPerExecution: drain.commitsPerExecution,
      workers: drain.rssMb.length,
      allIngest,
      replyP50: latency.p50,
      replyP99: latency.p99,
      rssMb: { web: webRss, bareWeb: bareWebRss, workers: drain.rssMb, all: allRss },
      topFrames: cpuProfileDir ? topFrames(cpuProfileDir) : undefined,
      topPackages: cpuProfileDir ? topFrames(cpuProfileDir, 12, 'file') : undefined,
      drainTopFrames: drain.topFrames,
      drainTopPackages: drain.topPackages,
      drain,
    };
  } finally {
    await dispose();
  }
}

/**
 * BENCH_ONLY=drain: DRAIN_EVENTS events stored by a web process (half signed hooks, half Slack questions answered at
 * the fake Slack), then drained; one database or both.
 */
async function drainOnly(kinds: Kind[], slackApi: SlackApi) {
  const results = [];
  for (const kind of kinds) {
    const { env, counters, dispose } = await benchDatabase(kind, slackApi);
    try {
      const web = await startSwitchboard('web', env);
      const half = Math.floor(DRAIN_EVENTS / 2);
      const hooks = await hammerHooks(web.base!, { ...load, amount: half, secret: SECRET });
      const slack = await hammerSlack(web.base!, { ...load, amount: DRAIN_EVENTS - half, secret: SIGNING_SECRET, responseUrl: slackApi.responseUrl });
      await web.stop();
      const stored = hooks.ok + slack.ok;
      const drain = await drainStored(kind, env, stored, counters, PROFILE_DIR && join(PROFILE_DIR, kind, 'drain'));
      results.push({ kind, stored, ...drain });
    } finally {
      await dispose();
    }
  }
  for (const r of results) {
    if (r.roundTrips) {
      console.log(
        `\nround trips of the ${r.kind} workers after start-up: ${r.roundTrips.perExecution} per execution, ${r.roundTrips.perBatch} per batch of ${BATCH_SIZE}`,
      );
      console.table(r.roundTrips.statements.slice(0, 20));
    }
    if (r.topFrames) {
      console.log(`\ndrain on ${r.kind}, top frames by self time (%):`);
      console.table(r.topFrames);
      console.table(r.topPackages);
    }
  }
  return {
    rows: results.map((r) => ({
      setup: `drain on ${r.kind} (${r.kind === 'postgres' ? '2 worker processes' : '1 embedded process'})`,
      executions: r.stored,
      'exec/s (start-up counted)': r.perSecond,
      'start-up s': r.startSeconds,
      'exec/s after start-up': r.afterStartPerSecond ?? '',
      'commits/exec': r.commitsPerExecution ?? '',
      'buffers/exec': r.buffersPerExecution ?? '',
      'CPU ms/exec': r.cpuMsPerExecution,
      'busy (CPU s / wall s)': r.busy.join(' + '),
      'round trips/exec': r.roundTrips?.perExecution ?? '',
    })),
    data: { events: DRAIN_EVENTS, roundTripsCounted: COUNT_ROUND_TRIPS, results },
  };
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
    if (ONLY === 'drain') {
      const reachable: Kind[] = (await postgresReachable()) ? ['postgres', 'pglite'] : ['pglite'];
      return await drainOnly(ONLY_DB ? [ONLY_DB] : reachable, fakeSlack);
    }
    if (ONLY) throw new Error(`BENCH_ONLY=${ONLY}: only \`drain\` is known`);
    const floor = await startPeer('floor-server', { SECRET });
    const floorHooks = await budgeted(floor.child.pid, () => hammerHooks(floor.base!, { ...load, secret: SECRET }));
    const floorRss = rssMb(floor.child.pid);
    await floor.stop();
    const bolt = await startPeer('bolt-server', { SLACK_SECRET: SIGNING_SECRET });
    const boltSlack = await budgeted(bolt.child.pid, () => hammerSlack(bolt.base!, { ...load, secret: SIGNING_SECRET, responseUrl: fakeSlack.responseUrl }));
    const boltRss = rssMb(bolt.child.pid);
    await bolt.stop();
    const start = await startTimes();
    const reachable: Kind[] = (await postgresReachable()) ? ['pglite', 'postgres'] : ['pglite'];
    const kinds = ONLY_DB ? [ONLY_DB] : reachable;
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
