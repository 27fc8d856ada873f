/** End to end: the real `switchboard` process, over real sockets. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from './support/databases.ts';
import { runCliInProcess } from './support/cli.ts';
import { freePort, runCli, spawnCli, waitForOk, type Spawned } from './support/process.ts';
import { ADMIN_TOKEN, HOOK_SECRET, signedHook } from './support/switchboard.ts';
import { waitFor } from './support/wait.ts';

describe.each(databaseKinds)('switchboard process on %s', (kind) => {
  let db: TestDatabase;
  let server: Spawned;
  let base: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = { ...db.env, PORT: String(port), ADMIN_TOKEN, HOOK_SECRET_CI: HOOK_SECRET };
    server = spawnCli(['start'], env);
    await waitForOk(`${base}/readyz`);
  });

  afterAll(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    await db?.drop();
  });

  it('serves the web channel: POST /api/messages?wait=1 returns the reply', async () => {
    const res = await fetch(`${base}/api/messages?wait=1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'help', user_id: 'e2e' }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.reply.text).toMatch(/status/);
  });

  it('accepts a signed webhook and stores its execution', async () => {
    // An event is a question for `ask` even when its text reads like a command.
    const res = await fetch(`${base}/hooks/ci`, signedHook({ type: 'deploy.finished', text: 'status' }));
    expect(res.status).toBe(202);
    const { executions } = (await res.json()) as any;
    const execution = await waitFor(
      async () => (await (await fetch(`${base}/api/executions/${executions[0].id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as any,
      (e) => e.status === 'succeeded' || e.status === 'dead',
    );
    expect(execution).toMatchObject({ status: 'succeeded', agent: 'ask' });
  });

  it('exposes metrics in Prometheus format', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toContain('# TYPE switchboard_http_requests_total counter');
    expect(text).toMatch(/switchboard_executions_total\{agent="help",status="succeeded"\} 1/);
  });

  if (kind === 'pglite') {
    it('refuses a second process on the same DATA_DIR, naming the PID that holds it', async () => {
      const second = await runCli(['start'], { ...env, PORT: String(await freePort()) });
      expect(second.code).not.toBe(0);
      expect(second.output).toContain(`is in use by PID ${server.child.pid}`);
    });
  }

  it('shuts down cleanly on SIGTERM', async () => {
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });
});

// The first verb runs as a whole process, as a user runs it; the rest call the same main() in this process, since a
// process start on the embedded database costs seconds and what they test is the verb, not the process.
describe('switchboard CLI', { timeout: 180_000 }, () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('simulate web "help" prints the reply', async () => {
    const { code, output } = await runCli(['simulate', 'web', 'help'], { DATA_DIR: dir });
    expect(output).toMatch(/summarize/);
    expect(code).toBe(0);
  });

  it('lists executions, disables and re-enables an agent, and replays an execution', async () => {
    const list = await runCliInProcess(['executions', '--json'], { DATA_DIR: dir });
    expect(list.code).toBe(0);
    const [first] = JSON.parse(list.output);
    expect(first).toMatchObject({ agent: 'help', status: 'succeeded' });

    expect((await runCliInProcess(['agents', 'disable', 'help'], { DATA_DIR: dir })).output).toContain('help: disabled');
    expect((await runCliInProcess(['simulate', 'web', 'help'], { DATA_DIR: dir })).output).toContain('the help agent is disabled');
    expect((await runCliInProcess(['agents', 'enable', 'help'], { DATA_DIR: dir })).output).toContain('help: enabled');

    const replay = await runCliInProcess(['replay', first.id], { DATA_DIR: dir });
    expect(replay.code).toBe(0);
    expect(replay.output).toContain(`replayed ${first.id} as`);
    expect(replay.output).toMatch(/summarize/);
  });

  it('simulate hooks/<source> signs an event, plain text for ask or a JSON event naming its agent', async () => {
    const named = await runCliInProcess(['simulate', 'hooks/ci', '{"type":"deploy.finished","agent":"status"}'], {
      DATA_DIR: dir,
      HOOK_SECRET_CI: HOOK_SECRET,
    });
    expect(named.code).toBe(0);
    expect(named.output).toMatch(/queue/i);
    const unsigned = await runCliInProcess(['simulate', 'hooks/nobody', 'hello'], { DATA_DIR: dir });
    expect(unsigned.code).not.toBe(0);
    expect(unsigned.output).toContain('HOOK_SECRET_NOBODY');
  });

  it('migrate applies the migrations and says they are up to date', async () => {
    const { code, output } = await runCliInProcess(['migrate'], { DATA_DIR: dir });
    expect(output).toMatch(/migrations applied \(pglite\): up to date/);
    expect(code).toBe(0);
  });

  it('explains every bad setting at once and exits non-zero', async () => {
    const { code, output } = await runCliInProcess(['start'], { DATA_DIR: dir, PORT: 'x', DATABASE_URL: 'mysql://nope' });
    expect(code).toBe(1);
    expect(output).toMatch(/PORT: must be a whole number/);
    expect(output).toMatch(/DATABASE_URL: must be a postgres:\/\/ URL/);
  });

  it('rejects an unknown verb with usage', async () => {
    const { code, output } = await runCliInProcess(['frobnicate'], { DATA_DIR: dir });
    expect(code).toBe(2);
    expect(output).toContain('Usage: switchboard');
  });
});
