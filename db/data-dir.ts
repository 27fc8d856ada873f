/**
 * DATA_DIR holds the whole database: everything in it is for its owner only (directories 0700, files 0600).
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export class DataDirUnsafeError extends Error {
  constructor(dir: string, path: string, reason: string) {
    super(
      `DATA_DIR ${dir} is open to other users and Switchboard cannot fix it: ${path} ${reason}. ` +
        `As the owner of ${dir}, run \`chmod -R go-rwx ${dir}\` (or \`sudo chown -R $(id -u) ${dir}\` if it should be yours), then start again.`,
    );
    this.name = 'DataDirUnsafeError';
  }
}

const PRIVATE_BITS = 0o077;

/**
 * Files PGlite (and everything else in this process) creates from now on are owner-only. PGlite writes its
 * files itself, with the default modes (0666 & ~umask), and keeps creating new ones (WAL segments, relation
 * files) as long as it runs: only the umask reaches those. Switchboard writes nothing that others should read,
 * so the process-wide setting costs nothing. Worker threads cannot set it; the chmod pass after open covers them.
 */
export function ownerOnlyUmask(): void {
  try {
    process.umask(process.umask(0o077) | 0o077);
  } catch {}
}

/**
 * Creates DATA_DIR owner-only, or takes away every group/other bit under it (like `chmod -R go-rwx`).
 * Returns how many paths it fixed; throws DataDirUnsafeError for paths another user owns.
 */
export function secureDataDir(dir: string): number {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const uid = process.getuid?.();
  let fixed = 0;
  const visit = (path: string) => {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return; // chmod would follow it out of DATA_DIR
    if (stat.mode & PRIVATE_BITS) {
      if (uid !== undefined && stat.uid !== uid) throw new DataDirUnsafeError(dir, path, `belongs to uid ${stat.uid}, not to this process (uid ${uid})`);
      try {
        chmodSync(path, stat.mode & 0o7700);
      } catch (err) {
        throw new DataDirUnsafeError(dir, path, `cannot be changed (${(err as NodeJS.ErrnoException).code})`);
      }
      fixed++;
    }
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
  return fixed;
}
