/**
 * A prepared database for a fresh DATA_DIR. Creating a PGlite database (initdb), applying every migration and
 * installing pg-boss's schema takes seconds; copying a directory that already went through all three takes a
 * fraction of that. The prepared directory is built at install (`npm ci` runs scripts/prepare-database.ts), or
 * else the first time a fresh DATA_DIR is opened, into node_modules/.cache/switchboard/ beside PGlite, under a
 * name made of the migrations', PGlite's and pg-boss's hash: when any changes, a new one is built, and a
 * DATA_DIR seeded from an older one is brought up to date by the usual migrations at start.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { fromPglite, PgBoss } from 'pg-boss';
import * as schema from './schema.ts';

/** A package's directory: its version goes into the hash, and PGlite's node_modules holds the cache. */
function packageDir(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.resolve(name)));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}
const pgliteDir = () => packageDir('@electric-sql/pglite');
/** Part of the name: changing how the prepared database is made (prepareTemplate) asks for a new one. */
const TEMPLATE_RECIPE = 'migrations, pg-boss, no template databases';

function templateName(migrationsFolder: string): string {
  const hash = createHash('sha256').update(TEMPLATE_RECIPE);
  hash.update(readFileSync(join(pgliteDir(), 'package.json')));
  hash.update(readFileSync(join(packageDir('pg-boss'), 'package.json')));
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
    cpSync(await prepareTemplate(migrationsFolder), pgdata, { recursive: true });
    return true;
  } catch {
    rmSync(pgdata, { recursive: true, force: true });
    return false;
  }
}

/** The prepared database's directory, built first when there is none for these migrations, PGlite and pg-boss. */
export async function prepareTemplate(migrationsFolder: string): Promise<string> {
  const cache = join(dirname(dirname(pgliteDir())), '.cache', 'switchboard'); // <node_modules>/@electric-sql/pglite
  const template = join(cache, templateName(migrationsFolder));
  if (existsSync(template)) return template;
  mkdirSync(cache, { recursive: true, mode: 0o700 });
  // Built aside and renamed into place, so a concurrent start never copies a half-built one.
  const building = join(cache, `building-${process.pid}-${Date.now()}`);
  try {
    const pglite = await PGlite.create(building);
    await migrate(drizzle(pglite, { schema }), { migrationsFolder });
    // pg-boss's schema too: on a fresh database, installing it is the longest step of the queue's start.
    const boss = new PgBoss({ db: fromPglite(pglite), backend: 'pglite', migrate: true, supervise: false, schedule: false });
    await boss.start();
    await boss.stop({ graceful: false, close: false });
    // Nothing creates a database inside an embedded DATA_DIR: initdb's two template databases would only be
    // copied into every fresh one (two fifths of the bytes copied).
    await pglite.exec("update pg_database set datistemplate = false where datname in ('template0', 'template1')");
    await pglite.exec('drop database template0');
    await pglite.exec('drop database template1');
    await pglite.exec('checkpoint');
    await pglite.close();
    renameSync(building, template);
  } catch (err) {
    rmSync(building, { recursive: true, force: true });
    if (!existsSync(template)) throw err; // another process won the rename: use its copy
  }
  return template;
}
