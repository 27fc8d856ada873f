/**
 * Durability and scale-out guarantees, with real processes: nothing acknowledged is lost when a
 * process is killed, duplicates across web processes run and reply once, SIGTERM lets in-flight work
 * finish (or hands it to another worker), and a worker can be scraped on its own PORT.
 * Replies go to a fake Slack and answers come from a fake Anthropic, both reached through the
 * official SDKs, so "one reply" is counted where a user would see it.
 */
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeLlm } from './fakes/anthropic-api.ts';
import { BOT_TOKEN, BOT_USER, SIGNING_SECRET, eventRequest, startFakeSlack, type FakeSlack } from './fakes/slack-api.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from './support/databases.ts';
import { freePort, runCli, spawnCli, waitForOk, type Spawned } from './support/process.ts';
import { ADMIN_TOKEN, HOOK_SECRET } from './support/switchboard.ts';

const started: Spawned[] = [];
let db: TestDatabase | undefined;

afterEach(async () => {
  for (const p of started.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }
  await db?.drop();
  db = undefined;
});

type Started = Spawned & { base: string };

/** Each test starts several real processes; on a busy machine that alone takes a while. */
const PROCESSES = { timeout: 300_000 };

/** `switchboard start --role <role>` on its own PORT; every role answers /readyz once it is up. */
async function start(role: 'web' | 'worker' | 'all', env: Record<string, string>): Promise<Started> {
  const port = await freePort();
  const p = spawnCli(['start', '--role', role], { RETRY_DELAY_SECONDS: '1', ...env, PORT: String(port), ADMIN_TOKEN, HOOK_SECRET_CI: HOOK_SECRET });
  started.push(p);
  const base = `http://127.0.0.1:${port}`;
  await Promise.race([
    waitForOk(`${base}/readyz`, 120_000).catch((err: Error) => Promise.reject(new Error(`${err.message}; its output:\n${p.output()}`))),
    p.exited.then((code) => Promise.reject(new Error(`switchboard --role ${role} exited with ${code} before it was ready:\n${p.output()}`))),
  ]);
  return { ...p, base };
}

const post = (base: string, path: string, body: unknown) =>
  fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

async function executions(base: string) {
  const res = await fetch(`${base}/api/executions?limit=500`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return ((await res.json()) as any).executions as { id: string; status: string }[];
}

async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The exit code, or 'still running' when the process has not exited within `timeoutMs`. */
function exitWithin(p: Spawned, timeoutMs: number): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p.exited, new Promise<'still running'>((r) => (timer = setTimeout(() => r('still running'), timeoutMs)))]).finally(() =>
    clearTimeout(timer),
  );
}

describe.each(databaseKinds)('durability on %s', (kind) => {
  it('work acknowledged before a kill -9 still runs after restart', PROCESSES, async () => {
    db = await createTestDatabase(kind);
    // A web-only process stores and acks but runs nothing: the executions are queued when it dies.
    const web = await start('web', db.env);
    for (let i = 0; i < 5; i++) expect((await post(web.base, '/api/messages', { text: 'help', user_id: `u${i}` })).status).toBe(202);
    web.child.kill('SIGKILL');
    await web.exited;
    // On PGlite the dead process's lock on DATA_DIR is taken over; on PostgreSQL any process may continue.
    const next = await start('all', db.env);
    const done = await eventually(
      () => executions(next.base),
      (rows) => rows.length === 5 && rows.every((r) => r.status === 'succeeded'),
    );
    expect(done.map((r) => r.status)).toEqual(Array(5).fill('succeeded'));
  });
});

// Several processes on one database need a server. CI always has one (.ci/run sets DATABASE_URL).
const server = databaseKinds.includes('postgres');
const title = server
  ? 'scale-out on postgres'
  : 'scale-out on postgres: skipped because DATABASE_URL is unset (set it to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/postgres)';

describe.skipIf(!server)(title, () => {
  let slack: FakeSlack;
  let anthropic: FakeLlm;
  let env: Record<string, string>;
  let sql: postgres.Sql | undefined;
  const CHANNEL = 'C0DURABLE';
  let seq = 0;

  beforeAll(async () => {
    [slack, anthropic] = await Promise.all([startFakeSlack(), startFakeAnthropic()]);
  });
  afterAll(async () => {
    await Promise.all([slack?.close(), anthropic?.close()]);
  });
  beforeEach(async () => {
    slack.calls.length = 0;
    anthropic.reset();
    db = await createTestDatabase('postgres');
    sql = postgres(db.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    env = {
      ...db.env,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_API_URL: slack.apiUrl,
      // The person asking for `status` below holds the admin role it requires.
      SLACK_ADMINS: 'U0ALICE01',
      ANTHROPIC_API_KEY: 'k',
      ANTHROPIC_BASE_URL: anthropic.url,
      ANTHROPIC_MODEL: 'claude-test-1',
      LLM_PROVIDERS: 'anthropic,offline',
      LLM_MAX_RETRIES: '0',
    };
  });
  afterEach(async () => {
    await sql?.end();
    sql = undefined;
  });

  /** A mention of the bot in CHANNEL, as Slack sends it; `text` after the mention decides the agent. */
  function mention(text: string, eventId = `EvDurable${++seq}`, headers: Record<string, string> = {}) {
    const ts = `1700003000.${String(seq).padStart(6, '0')}`;
    return {
      ts,
      request: eventRequest({ type: 'app_mention', user: 'U0ALICE01', text: `<@${BOT_USER}> ${text}`, ts, channel: CHANNEL }, eventId, { headers }),
    };
  }

  /** What a user sees in CHANNEL: each posted message with the text of its last edit. */
  function visibleMessages() {
    return slack
      .ok('chat.postMessage')
      .filter((c) => c.args.channel === CHANNEL)
      .map((c) => {
        const edits = slack.ok('chat.update').filter((u) => u.args.ts === c.result!.ts);
        return { ts: c.result!.ts as string, threadTs: c.args.thread_ts as string | undefined, text: String((edits.at(-1) ?? c).args.text) };
      });
  }

  const onlyExecution = async () =>
    (await sql!`select id, status, attempts, agent from executions`) as unknown as { id: string; status: string; attempts: number; agent: string }[];

  /** A fresh worker takes the abandoned job over: a second attempt, and exactly one message in the thread, the answer. */
  async function anotherWorkerAnswersOnce(threadTs: string) {
    await start('worker', env);
    const rows = await eventually(onlyExecution, (r) => r[0]?.status === 'succeeded', 120_000);
    expect(rows).toMatchObject([{ status: 'succeeded', attempts: 2 }]);
    expect(anthropic.requests).toHaveLength(2);
    // No second post, and no "Working on it…" left behind.
    const replies = visibleMessages();
    expect(replies.map((r) => r.text)).toEqual([expect.stringContaining('fake anthropic answer')]);
    expect(replies[0]).toMatchObject({ threadTs });
  }

  it('the same Slack event at two web processes at once creates one execution, run once, and posts one reply', PROCESSES, async () => {
    const [a, b] = await Promise.all([start('web', env), start('web', env)]);
    await start('worker', env);
    // Slack retries carry the same event_id with x-slack-retry-num; send originals and retries to both.
    const original = mention('status', 'EvTwoWebs');
    const retry = mention('status', 'EvTwoWebs', { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' });
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) => fetch(`${(i % 2 ? a : b).base}/slack/events`, i < 5 ? original.request : retry.request)),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
    const rows = await eventually(onlyExecution, (r) => r.length === 1 && r[0]!.status === 'succeeded');
    expect(rows).toMatchObject([{ status: 'succeeded', attempts: 1, agent: 'status' }]);
    const replies = visibleMessages();
    expect(replies).toHaveLength(1);
    expect(replies[0]!.threadTs).toBe(original.ts);
  });

  it('a worker killed with kill -9 mid-answer leaves its job to another worker, which replies once', PROCESSES, async () => {
    // The first model call never answers: the first worker is stuck inside the agent when it dies.
    anthropic.script({ kind: 'hang' });
    const web = await start('web', env);
    const first = await start('worker', env);
    const event = mention('how do we deploy?');
    expect((await fetch(`${web.base}/slack/events`, event.request)).status).toBe(200);
    await eventually(
      async () => anthropic.requests.length,
      (n) => n === 1,
    );
    expect(anthropic.requests).toHaveLength(1);
    expect(await onlyExecution()).toMatchObject([{ status: 'running', attempts: 1, agent: 'ask' }]);

    first.child.kill('SIGKILL');
    await first.exited;
    // The lease (LEASE_SECONDS in db/queue.ts) plus one supervise interval: about 30 s; the timeout is generous.
    await anotherWorkerAnswersOnce(event.ts);
  });

  it('SIGTERM stops accepting, lets an in-flight request finish, and exits 0', PROCESSES, async () => {
    // The answer streams its first piece, then waits: the ?wait=1 request is in flight until the test lets it go on.
    const release = anthropic.hold();
    const web = await start('web', env);
    await start('worker', env);
    const pending = post(web.base, '/api/messages?wait=1', { text: 'what is in flight?', user_id: 'graceful' });
    pending.catch(() => {}); // awaited below; a failure must fail the test, not surface as unhandled
    await eventually(
      async () => anthropic.requests.length,
      (n) => n === 1,
    );
    expect(anthropic.requests).toHaveLength(1);
    web.child.kill('SIGTERM');
    const listener = await eventually(
      () =>
        fetch(`${web.base}/healthz`).then(
          () => 'open',
          () => 'refused',
        ),
      (s) => s === 'refused',
      10_000,
    );
    expect(listener).toBe('refused');
    expect(
      await post(web.base, '/api/messages', { text: 'help', user_id: 'late' }).then(
        () => 'accepted',
        () => 'refused',
      ),
    ).toBe('refused');
    release();
    const res = await pending;
    expect(res.status).toBe(200);
    // The client's keep-alive connection is not reused for a request this process would no longer take.
    expect(res.headers.get('connection')).toBe('close');
    expect(((await res.json()) as any).reply.text).toContain('fake anthropic answer');
    expect(await exitWithin(web, 30_000)).toBe(0);
    expect(await onlyExecution()).toMatchObject([{ status: 'succeeded', attempts: 1 }]);
  });

  it('a worker given SIGTERM mid-answer finishes it, replies once, and exits 0', PROCESSES, async () => {
    // The answer streams its first piece, then waits until the test lets it go on.
    const release = anthropic.hold();
    const web = await start('web', env);
    const worker = await start('worker', { ...env, LOG_LEVEL: 'info' });
    const event = mention('what changed today?');
    expect((await fetch(`${web.base}/slack/events`, event.request)).status).toBe(200);
    await eventually(
      async () => anthropic.requests.length,
      (n) => n === 1,
    );
    expect(await onlyExecution()).toMatchObject([{ status: 'running', attempts: 1 }]);

    worker.child.kill('SIGTERM');
    await eventually(
      async () => worker.output(),
      (out) => out.includes('shutting down'),
      10_000,
    );
    expect(worker.output()).toContain('shutting down');
    expect(worker.child.exitCode).toBeNull(); // still finishing the answer
    release();
    expect(await exitWithin(worker, 30_000)).toBe(0);
    expect(await onlyExecution()).toMatchObject([{ status: 'succeeded', attempts: 1 }]);
    const replies = visibleMessages();
    expect(replies.map((r) => r.text)).toEqual([expect.stringContaining('fake anthropic answer')]);
  });

  it('a worker given SIGTERM with a stuck job releases it within a bounded time; another worker replies once', PROCESSES, async () => {
    anthropic.script({ kind: 'hang' });
    const web = await start('web', env);
    const stuck = await start('worker', env);
    const event = mention('why is the build red?');
    expect((await fetch(`${web.base}/slack/events`, event.request)).status).toBe(200);
    await eventually(
      async () => anthropic.requests.length,
      (n) => n === 1,
    );
    expect(anthropic.requests).toHaveLength(1);

    stuck.child.kill('SIGTERM');
    // The queue waits a grace period for the job, then fails it back to the queue; the CLI caps the exit at 20 s.
    expect(await exitWithin(stuck, 60_000)).toBe(0);
    await anotherWorkerAnswersOnce(event.ts);
  });

  it('a worker serves /healthz, /readyz and /metrics on its own PORT, and nothing else', PROCESSES, async () => {
    const web = await start('web', env);
    const worker = await start('worker', env);
    const res = await post(web.base, '/api/messages?wait=1', { text: 'help', user_id: 'scraper' });
    expect(res.status).toBe(200);

    expect(await (await fetch(`${worker.base}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${worker.base}/readyz`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as any).checks.database).toMatchObject({ ok: true, kind: 'postgres' });
    const metrics = await (await fetch(`${worker.base}/metrics`)).text();
    // The worker ran the job, so its own registry counts it; the web process's does not.
    expect(metrics).toMatch(/^switchboard_executions_total\{agent="help",status="succeeded"\} 1$/m);
    expect(metrics).toMatch(/^switchboard_ingest_to_reply_seconds_count\{channel="web"\} 1$/m);
    expect(await (await fetch(`${web.base}/metrics`)).text()).not.toMatch(/^switchboard_executions_total\{/m);

    const ingress = await post(worker.base, '/api/messages', { text: 'help', user_id: 'lost' });
    expect(ingress.status).toBe(404);
    expect(((await ingress.json()) as any).error.message).toMatch(/web process/);
    expect((await fetch(`${worker.base}/slack/events`, mention('help').request)).status).toBe(404);
    expect(await onlyExecution()).toHaveLength(1);

    // Co-located with a web process on the same PORT, a worker refuses to start and says what to change.
    const clash = await runCli(['start', '--role', 'worker'], { ...env, PORT: new URL(web.base).port, ADMIN_TOKEN });
    expect(clash.code).toBe(1);
    expect(clash.output).toMatch(/already in use; give this worker process its own PORT/);
  });
});
