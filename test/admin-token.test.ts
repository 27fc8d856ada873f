/** The admin token: printed once when generated, stored only as a hash, rotated for every process. */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../db/rows.ts';
import { ADMIN_TOKEN_HASH_SETTING, rotateAdminToken } from '../db/settings.ts';
import { ADMIN_TOKEN_CACHE_MS, createAdminTokenCheck, hashToken, newAdminToken } from '../src/admin-token.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { startSwitchboard, type Switchboard } from '../src/server.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from './support/databases.ts';
import { freePort, runCli, spawnCli, waitForOk } from './support/process.ts';

describe('the admin token check', () => {
  it('accepts the stored hash through a short cache: a rotation ends the old token everywhere and the new one works at once', async () => {
    let clock = 0;
    const [first, second, processToken] = [newAdminToken(), newAdminToken(), newAdminToken()];
    let stored = hashToken(first);
    let reads = 0;
    const check = createAdminTokenCheck({ processToken, initialHash: stored, now: () => clock, readHash: async () => (reads++, stored) });
    expect(await check(first)).toBe(true);
    expect(await check(processToken)).toBe(true);
    expect(reads).toBe(0); // the hot path does not query

    stored = hashToken(second); // `admin-token rotate` in another process
    clock += 1_500;
    expect(await check(second)).toBe(true); // a mismatch re-reads
    expect(await check(first)).toBe(false);
    clock += ADMIN_TOKEN_CACHE_MS + 1;
    expect(await check(first)).toBe(false);
    expect(await check('')).toBe(false);
  });

  it('with ADMIN_TOKEN set, only it (and the in-process token) is accepted', async () => {
    const check = createAdminTokenCheck({ fixed: 'from-the-environment-0123', processToken: 'p'.repeat(20), readHash: async () => hashToken('stored') });
    expect(await check('from-the-environment-0123')).toBe(true);
    expect(await check('stored')).toBe(false);
  });
});

describe.each(databaseKinds)('the generated admin token on %s', (kind) => {
  let db: TestDatabase;
  const start = () => startSwitchboard(loadConfig({ ...db.env, LOG_LEVEL: 'silent' }), { listen: false, logger: createLogger('silent') });
  const settings = async (sb: Switchboard) =>
    rowsOf<{ key: string; value: string }>(await sb.opened.handle.db.execute(sql`select key, value from settings where key like 'admin_token%'`));
  const status = async (sb: Switchboard, token: string) => (await sb.app.request('/api/agents', { headers: { authorization: `Bearer ${token}` } })).status;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
  });
  afterAll(async () => db?.drop());

  it('is created once, stored only as its sha256, and keeps working after a restart that does not know it', { timeout: 120_000 }, async () => {
    const sb = await start();
    const token = sb.createdAdminToken!;
    expect(token).toMatch(/^sb_[0-9a-f]{48}$/);
    expect(await settings(sb)).toEqual([{ key: ADMIN_TOKEN_HASH_SETTING, value: hashToken(token) }]);
    expect(await status(sb, token)).toBe(200);
    await sb.stop();

    const again = await start();
    try {
      expect(again.createdAdminToken).toBeUndefined();
      expect(again.adminToken).not.toBe(token);
      expect(await status(again, token)).toBe(200);
      expect(await status(again, again.adminToken)).toBe(200); // the CLI's in-process calls
      expect(await status(again, 'sb_guess')).toBe(401);

      // rotation, as `admin-token rotate` does it from another process
      const next = newAdminToken();
      await rotateAdminToken(again.opened.handle.db, next);
      await new Promise((r) => setTimeout(r, 1_100));
      expect(await status(again, next)).toBe(200);
      await new Promise((r) => setTimeout(r, ADMIN_TOKEN_CACHE_MS));
      expect(await status(again, token)).toBe(401);
    } finally {
      await again.stop();
    }
  });

  it('a token stored in clear by an earlier version is turned into its hash at start and still works', { timeout: 120_000 }, async () => {
    let sb = await start();
    const legacy = 'sb_legacy_token_0123456789abcdef';
    await sb.opened.handle.db.execute(sql`delete from settings where key like 'admin_token%'`);
    await sb.opened.handle.db.execute(sql`insert into settings (key, value) values ('admin_token', ${legacy})`);
    await sb.stop();
    sb = await start();
    try {
      expect(await settings(sb)).toEqual([{ key: ADMIN_TOKEN_HASH_SETTING, value: hashToken(legacy) }]);
      expect(await status(sb, legacy)).toBe(200);
    } finally {
      await sb.stop();
    }
  });
});

describe('npx switchboard and the admin token', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('pglite');
  });
  afterAll(async () => db?.drop());

  it('start prints a generated token once; later starts show only its fingerprint; rotate prints a new one', { timeout: 600_000 }, async () => {
    const port = String(await freePort());
    const base = `http://127.0.0.1:${port}`;
    const run = async () => {
      const p = spawnCli(['start'], { ...db.env, PORT: port, LOG_LEVEL: 'info' });
      // a start waits its turn for the CPU when many tests run; an early exit shows its output
      await Promise.race([waitForOk(`${base}/readyz`, 180_000), p.exited.then((code) => Promise.reject(new Error(`start exited ${code}: ${p.output()}`)))]);
      return p;
    };
    const stop = async (p: ReturnType<typeof spawnCli>) => {
      p.child.kill('SIGTERM');
      await p.exited;
      return p.output();
    };
    const agents = (token: string) => fetch(`${base}/api/agents`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);

    let server = await run();
    const token = /Admin token for \/api \(shown only this once[^:]*: (sb_[0-9a-f]+)/.exec(server.output())?.[1];
    expect(token).toBeDefined();
    expect(await agents(token!)).toBe(200);
    const first = await stop(server);
    expect(first.split(token!).length - 1).toBe(1); // the notice; never in a log line

    server = await run();
    expect(await agents(token!)).toBe(200);
    const second = await stop(server);
    expect(second).not.toContain(token!);
    expect(second).toContain(`"fingerprint":"${hashToken(token!).slice(0, 6)}"`);

    const rotated = await runCli(['admin-token', 'rotate'], { ...db.env });
    expect(rotated.code).toBe(0);
    const next = /^(sb_[0-9a-f]+)$/m.exec(rotated.output)?.[1];
    expect(next).toBeDefined();
    server = await run();
    try {
      expect(await agents(next!)).toBe(200);
      expect(await agents(token!)).toBe(401);
    } finally {
      expect(await stop(server)).not.toContain(next!);
    }

    const refused = await runCli(['admin-token', 'rotate'], { ...db.env, ADMIN_TOKEN: 'from-the-environment-0123' });
    expect(refused.code).toBe(1);
    expect(refused.output).toMatch(/ADMIN_TOKEN is set in the environment, and it wins/);
  });
});
