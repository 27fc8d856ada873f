/** Data at rest: everything under DATA_DIR is its owner's only, whatever state the directory was in. */
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirUnsafeError } from '../db/index.ts';
import { openDatabase } from '../db/client.ts';
import { secureDataDir } from '../db/data-dir.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { startSwitchboard } from '../src/server.ts';
import { ADMIN_TOKEN } from './support/switchboard.ts';

/** Every path under `dir` whose mode lets group or others in. */
function openToOthers(dir: string): string[] {
  const out: string[] = [];
  const visit = (path: string) => {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return;
    if (stat.mode & 0o077) out.push(`${path} ${(stat.mode & 0o777).toString(8)}`);
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
  return out;
}

describe('DATA_DIR permissions', () => {
  const dirs: string[] = [];
  const fresh = () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-perm-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('an existing world-writable DATA_DIR is fixed with an info line, and everything PGlite writes is owner-only', { timeout: 90_000 }, async () => {
    const dir = fresh();
    chmodSync(dir, 0o777);
    mkdirSync(join(dir, 'old'), { mode: 0o777 });
    writeFileSync(join(dir, 'old', 'notes'), 'x', { mode: 0o666 });
    chmodSync(join(dir, 'old'), 0o777);
    chmodSync(join(dir, 'old', 'notes'), 0o666);
    expect(openToOthers(dir)).toHaveLength(3);

    const lines: string[] = [];
    const destination = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const sb = await startSwitchboard(loadConfig({ DATA_DIR: dir, ADMIN_TOKEN, LOG_LEVEL: 'info' }), {
      listen: false,
      logger: createLogger('info', {}, { destination }),
    });
    try {
      // a write after start, so files PGlite creates while it runs are covered too
      const res = await sb.app.request('/api/messages?wait=1', {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'help', user_id: 'perm' }),
      });
      expect(res.status).toBe(200);
      expect(readdirSync(join(dir, 'pgdata')).length).toBeGreaterThan(3);
      expect(openToOthers(dir)).toEqual([]);
      expect(lines.join('')).toMatch(/was open to other users: took group and other permissions off 3 path\(s\)/);
    } finally {
      await sb.stop();
    }
    expect(openToOthers(dir)).toEqual([]);
  });

  it('a new DATA_DIR is created 0700', () => {
    const dir = join(fresh(), 'nested', 'data');
    expect(secureDataDir(dir)).toBe(0);
    expect(lstatSync(dir).mode & 0o777).toBe(0o700);
  });

  it.skipIf(process.getuid?.() !== 0)('an unsafe DATA_DIR another user owns is refused with the command that fixes it', () => {
    const dir = fresh();
    writeFileSync(join(dir, 'theirs'), 'x', { mode: 0o644 });
    chmodSync(join(dir, 'theirs'), 0o644);
    chownSync(join(dir, 'theirs'), 65534, 65534);
    let refused: unknown;
    try {
      secureDataDir(dir);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(DataDirUnsafeError);
    expect((refused as Error).message).toContain(`chmod -R go-rwx ${dir}`);
    expect(lstatSync(join(dir, 'theirs')).mode & 0o777).toBe(0o644);
  });
});

describe('the embedded database', () => {
  it('runs with a small buffer cache, so its WebAssembly memory stays small', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-buffers-'));
    const handle = await openDatabase({ dataDir: dir });
    try {
      const shown = await handle.pglite!.query<{ shared_buffers: string }>('show shared_buffers');
      expect(shown.rows[0]!.shared_buffers).toBe('32MB');
      // PGlite's own defaults stay: single-user mode without parallel workers.
      const workers = await handle.pglite!.query<{ max_worker_processes: string }>('show max_worker_processes');
      expect(workers.rows[0]!.max_worker_processes).toBe('0');
    } finally {
      await handle.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
