/**
 * A database as an older release left it, for tests of a migration: the first migrations only, with rows written
 * in the shape of their time. Switchboard then opens it (openStore) and applies the migrations it lacks.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { MIGRATIONS_FOLDER } from '../../db/client.ts';
import type { TestDatabase } from './databases.ts';

/** A copy of drizzle/ holding only the first `count` migrations, as an older release shipped it. */
function migrationsUpTo(count: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-migrations-'));
  cpSync(MIGRATIONS_FOLDER, dir, { recursive: true });
  const journalPath = join(dir, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { idx: number; tag: string }[] };
  const later = journal.entries.filter((e) => e.idx >= count);
  journal.entries = journal.entries.filter((e) => e.idx < count);
  writeFileSync(journalPath, JSON.stringify(journal));
  for (const entry of later) rmSync(join(dir, `${entry.tag}.sql`));
  for (const file of readdirSync(join(dir, 'meta'))) if (Number.parseInt(file, 10) >= count) rmSync(join(dir, 'meta', file));
  return dir;
}

/** A statement the older release's database runs, with its `$n` parameters. */
export type OlderWrite = { text: string; params?: unknown[] };

/** Applies the first `count` migrations to the fresh `database`, then `writes` in order, and closes it again. */
export async function writeAsOlderRelease(database: TestDatabase, count: number, writes: OlderWrite[]): Promise<void> {
  const older = migrationsUpTo(count);
  try {
    if (database.name === 'pglite') {
      const pglite = await PGlite.create(join(database.env.DATA_DIR!, 'pgdata'));
      try {
        await migratePglite(drizzlePglite(pglite) as never, { migrationsFolder: older });
        for (const w of writes) await pglite.query(w.text, w.params ?? []);
      } finally {
        await pglite.close();
      }
    } else {
      const server = postgres(database.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
      try {
        await migratePostgres(drizzlePostgres(server) as never, { migrationsFolder: older });
        for (const w of writes) await server.unsafe(w.text, (w.params ?? []) as never[]);
      } finally {
        await server.end();
      }
    }
  } finally {
    rmSync(older, { recursive: true, force: true });
  }
}
