/**
 * Durability and scale-out guarantees, with real processes: nothing acknowledged is lost when a
 * process is killed, duplicates across web processes run once, and SIGTERM lets in-flight work finish.
 */
import postgres from 'postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from './support/databases.ts';
import { freePort, spawnCli, waitForOk, type Spawned } from './support/process.ts';
import { ADMIN_TOKEN, HOOK_SECRET, signedHook } from './support/switchboard.ts';

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

async function start(role: 'web' | 'worker' | 'all', env: Record<string, string>) {
  const port = await freePort();
  const p = spawnCli(['start', '--role', role], { ...env, PORT: String(port), ADMIN_TOKEN, HOOK_SECRET_CI: HOOK_SECRET });
  started.push(p);
  const base = `http://127.0.0.1:${port}`;
  if (role !== 'worker') await waitForOk(`${base}/readyz`);
  return { ...p, base };
}

const post = (base: string, path: string, body: unknown) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

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

describe.each(databaseKinds)('durability on %s', (kind) => {
  it('work acknowledged before a kill -9 still runs after restart', async () => {
    db = await createTestDatabase(kind);
    // A web-only process stores and acks but runs nothing: the executions are queued when it dies.
    const web = await start('web', db.env);
    for (let i = 0; i < 5; i++) expect((await post(web.base, '/api/messages', { text: 'help', user_id: `u${i}` })).status).toBe(202);
    web.child.kill('SIGKILL');
    await web.exited;
    // On PGlite the dead process's lock on DATA_DIR is taken over; on PostgreSQL any process may continue.
    const next = await start('all', db.env);
    const done = await eventually(() => executions(next.base), (rows) => rows.length === 5 && rows.every((r) => r.status === 'succeeded'));
    expect(done.map((r) => r.status)).toEqual(Array(5).fill('succeeded'));
  });
});

// Several processes on one database need a server: these run whenever DATABASE_URL is set (always in CI).
describe.each(databaseKinds.filter((k) => k === 'postgres'))('scale-out on %s', () => {
  it('the same delivery at two web processes at once creates one execution, run once', async () => {
    db = await createTestDatabase('postgres');
    const [a, b] = await Promise.all([start('web', db.env), start('web', db.env)]);
    await start('worker', db.env);
    const request = signedHook({ text: 'status' }, { id: 'msg_two_webs' });
    const responses = await Promise.all(Array.from({ length: 10 }, (_, i) => fetch(`${(i % 2 ? a : b).base}/hooks/ci`, request)));
    expect(responses.every((r) => r.status === 200 || r.status === 202)).toBe(true);
    const rows = await eventually(() => executions(a.base), (r) => r.length === 1 && r[0]!.status === 'succeeded');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.status).toBe('succeeded');
    const sql = postgres(db.env.DATABASE_URL!, { max: 1 });
    const [{ attempts }] = await sql`select attempts from executions`;
    await sql.end();
    expect(attempts).toBe(1);
  });

  it('SIGTERM stops accepting, lets an in-flight request finish, and exits 0', async () => {
    db = await createTestDatabase('postgres');
    const web = await start('web', db.env);
    // No worker yet: the ?wait=1 request stays in flight.
    const pending = post(web.base, '/api/messages?wait=1', { text: 'help', user_id: 'graceful' });
    await eventually(() => executions(web.base), (r) => r.length === 1);
    web.child.kill('SIGTERM');
    await eventually(
      () => fetch(`${web.base}/healthz`).then(() => 'open', () => 'refused'),
      (s) => s === 'refused',
      10_000,
    );
    await start('worker', db.env);
    const res = await pending;
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).reply.text).toMatch(/summarize/);
    expect(await web.exited).toBe(0);
  });
});
