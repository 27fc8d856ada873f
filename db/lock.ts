/**
 * An exclusive lock on the embedded data directory. PGlite is single-process: a second process on the
 * same files would corrupt them, so it must fail loudly instead.
 */
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class DataDirInUseError extends Error {
  readonly pid: number;
  constructor(dir: string, pid: number) {
    super(
      `DATA_DIR ${dir} is in use by PID ${pid}. Stop that Switchboard process first, use another DATA_DIR, ` +
        'or set DATABASE_URL to a PostgreSQL server to run several processes on one database.',
    );
    this.name = 'DataDirInUseError';
    this.pid = pid;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock or throws DataDirInUseError. A lock left by a dead process is taken over. */
export function lockDataDir(dir: string): { release(): void } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'switchboard.pid');
  // The PID is written to a file of our own first and then linked into place: the lock file never exists
  // empty, so a process starting at the same moment cannot read it as stale and take it over.
  const mine = join(dir, `switchboard.pid.${process.pid}`);
  writeFileSync(mine, String(process.pid), { mode: 0o600 });
  try {
    return takeLock(dir, file, mine);
  } finally {
    rmSync(mine, { force: true });
  }
}

function takeLock(dir: string, file: string, mine: string): { release(): void } {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      linkSync(mine, file);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        rmSync(file, { force: true });
      };
      process.once('exit', release);
      return { release };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) throw new DataDirInUseError(dir, pid);
      rmSync(file, { force: true });
    }
  }
  throw new Error(`could not lock DATA_DIR ${dir}: another process keeps taking the lock`);
}
