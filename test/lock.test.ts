import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirInUseError } from '../db/index.ts';
import { lockDataDir } from '../db/lock.ts';

describe('the DATA_DIR lock', () => {
  const dirs: string[] = [];
  const fresh = () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-lock-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('holds the PID from the moment it exists, refuses a second holder by PID, and frees on release', () => {
    const dir = fresh();
    const lock = lockDataDir(dir);
    expect(readFileSync(join(dir, 'switchboard.pid'), 'utf8')).toBe(String(process.pid));
    expect(readdirSync(dir)).toEqual(['switchboard.pid']);
    let refused: unknown;
    try {
      lockDataDir(dir);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(DataDirInUseError);
    expect((refused as DataDirInUseError).pid).toBe(process.pid);
    lock.release();
    expect(readdirSync(dir)).toEqual([]);
    lockDataDir(dir).release();
  });

  it('takes over a lock left by a process that is gone', () => {
    const dir = fresh();
    writeFileSync(join(dir, 'switchboard.pid'), '999999999');
    const lock = lockDataDir(dir);
    expect(readFileSync(join(dir, 'switchboard.pid'), 'utf8')).toBe(String(process.pid));
    lock.release();
  });
});
