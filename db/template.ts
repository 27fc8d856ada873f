/**
 * A prepared database for a fresh DATA_DIR. Creating a PGlite database (initdb) and applying every migration
 * takes seconds; copying a directory that already went through both takes a fraction of that. The prepared
 * directory is built once, the first time a fresh DATA_DIR is opened, into node_modules/.cache/switchboard/
 * beside PGlite, under a name made of the migrations' and PGlite's hash: when either changes, a new one is
 * built, and a DATA_DIR seeded from an older one is brought up to date by the usual migrations at start.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import * as schema from './schema.ts';

/** PGlite's package directory: its version goes into the hash, and its node_modules holds the cache. */
function pgliteDir(): string {
  let dir = dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite')));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

function templateName(migrationsFolder: string): string {
  const hash = createHash('sha256');
  hash.update(readFileSync(join(pgliteDir(), 'package.json')));
  for (const file of readdirSync(migrationsFolder, { recursive: true, encoding: 'utf8' }).sort()) {
    const path = join(migrationsFolder, file);
    if (file.endsWith('.sql') || file.endsWith('.json')) hash.update(file).update(readFileSync(path));
  }
  return `pgdata-${hash.digest('hex').slice(0, 16)}`;
}

/**
 * Fills the absent `pgdata` directory with a copy of the prepared database, building that first when there is
 * none. False when it could not (a read-only node_modules, say): PGlite then creates the database itself.
 */
export async function seedFromTemplate(pgdata: string, migrationsFolder: string): Promise<boolean> {
  try {
    const cache = join(dirname(dirname(pgliteDir())), '.cache', 'switchboard'); // <node_modules>/@electric-sql/pglite
    const template = join(cache, templateName(migrationsFolder));
    if (!existsSync(template)) {
      mkdirSync(cache, { recursive: true, mode: 0o700 });
      // Built aside and renamed into place, so a concurrent start never copies a half-built one.
      const building = join(cache, `building-${process.pid}-${Date.now()}`);
      try {
        const pglite = await PGlite.create(building);
        await migrate(drizzle(pglite, { schema }), { migrationsFolder });
        await pglite.close();
        renameSync(building, template);
      } catch (err) {
        rmSync(building, { recursive: true, force: true });
        if (!existsSync(template)) throw err; // another process won the rename: use its copy
      }
    }
    cpSync(template, pgdata, { recursive: true });
    return true;
  } catch {
    rmSync(pgdata, { recursive: true, force: true });
    return false;
  }
}
