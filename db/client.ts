/** Opens the database (embedded PGlite or a PostgreSQL server), applies migrations, and starts the queue. */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { ownerOnlyUmask, secureDataDir } from './data-dir.ts';
import { lockDataDir } from './lock.ts';
import * as schema from './schema.ts';
import { seedFromTemplate } from './template.ts';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export type DatabaseHandle = {
  kind: 'pglite' | 'postgres';
  db: Db;
  /** The PGlite instance in embedded mode (pg-boss runs on it too). */
  pglite?: PGlite;
  /** The postgres.js pool in server mode. */
  client?: postgres.Sql;
  close(): Promise<void>;
};

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../drizzle/', import.meta.url));
// Any constant works; it only has to be the same in every Switchboard process.
const MIGRATION_LOCK_KEY = 727_3001;

export type OpenOptions = {
  databaseUrl?: string;
  dataDir: string;
  poolSize?: number;
  migrate?: boolean;
  /** Server mode: how long opening one connection may take before it fails (default 3 s). */
  connectTimeoutSeconds?: number;
  /** Server mode: PostgreSQL cancels a statement running longer than this (default 15 s; 0 = none). Migrations are exempt. */
  statementTimeoutSeconds?: number;
  /** Operator information worth a log line (a DATA_DIR whose permissions were fixed). */
  notice?(message: string): void;
  /** Filled with the milliseconds each step of opening took (`database`, `migrations`; `queue` in openStore), for the start's debug line. */
  phases?: Record<string, number>;
};

/**
 * Reconnect pause after failed connection attempts. postgres.js grows it to 20 s, which would keep a
 * process refusing requests long after the database is back; a short cap makes recovery take about a second.
 */
const reconnectBackoff = (retries: number) => Math.min(0.05 * 2 ** retries, 1);

/** Opens the database. Embedded mode locks DATA_DIR first so a second process fails instead of corrupting it. */
export async function openDatabase(opts: OpenOptions): Promise<DatabaseHandle> {
  let mark = performance.now();
  const phase = (name: string) => {
    if (opts.phases) opts.phases[name] = Math.round(performance.now() - mark);
    mark = performance.now();
  };
  const handle = opts.databaseUrl ? await openPostgres(opts.databaseUrl, opts) : await openPglite(opts.dataDir, opts.notice);
  phase('database');
  if (opts.migrate !== false) {
    try {
      await runMigrations(handle, opts);
    } catch (err) {
      await handle.close();
      throw err;
    }
    phase('migrations');
  }
  return handle;
}

/**
 * PGlite's start parameters: its defaults, with a smaller buffer cache. PostgreSQL's default 128 MB of
 * shared buffers lives in PGlite's WebAssembly memory, which never shrinks, and is touched at start: about
 * 130 MB of the embedded process's resident memory for a database that, on one machine, is a few tens of MB and
 * sits in the operating system's page cache anyway.
 */
const PGLITE_START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=32MB'];

async function openPglite(dataDir: string, notice?: (message: string) => void): Promise<DatabaseHandle> {
  const dir = resolve(dataDir);
  ownerOnlyUmask();
  const fixed = secureDataDir(dir);
  if (fixed) notice?.(`DATA_DIR ${dir} was open to other users: took group and other permissions off ${fixed} path(s), as \`chmod -R go-rwx\` would`);
  const lock = lockDataDir(dir);
  try {
    const pgdata = join(dir, 'pgdata');
    if (!existsSync(pgdata)) await seedFromTemplate(pgdata, MIGRATIONS_FOLDER);
    const pglite = await PGlite.create(pgdata, { startParams: PGLITE_START_PARAMS });
    secureDataDir(dir); // what PGlite just created, where the umask could not be set
    const db = drizzlePglite(pglite, { schema }) as unknown as Db;
    return {
      kind: 'pglite',
      db,
      pglite,
      async close() {
        try {
          await pglite.close();
        } finally {
          lock.release();
        }
      },
    };
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function openPostgres(url: string, opts: OpenOptions): Promise<DatabaseHandle> {
  const statementTimeoutMs = (opts.statementTimeoutSeconds ?? 15) * 1000;
  const client = postgres(url, {
    max: opts.poolSize ?? 10,
    onnotice: () => {},
    connect_timeout: opts.connectTimeoutSeconds ?? 3,
    backoff: reconnectBackoff,
    connection: { application_name: 'switchboard', ...(statementTimeoutMs > 0 ? { statement_timeout: statementTimeoutMs } : {}) },
  });
  const db = drizzlePostgres(preparing(client), { schema }) as unknown as Db;
  return { kind: 'postgres', db, client, close: () => client.end({ timeout: 5 }) };
}

/**
 * drizzle asks postgres.js not to prepare its queries, and postgres.js then sends every query with parameters
 * in two round trips (describe, then execute). Our SQL texts are a fixed set, so they are prepared once per
 * connection and each later run is one round trip: ingest on PostgreSQL makes half as many.
 */
function preparing(client: postgres.Sql): postgres.Sql {
  type Unsafe = postgres.Sql['unsafe'];
  const patch = (sql: postgres.Sql) => {
    const unsafe: Unsafe = sql.unsafe.bind(sql);
    sql.unsafe = ((query, params, options) => unsafe(query, params, { ...options, prepare: true })) as Unsafe;
    return sql;
  };
  const begin = client.begin.bind(client) as (...args: unknown[]) => Promise<unknown>;
  // A transaction hands its callback a connection-bound sql of its own: prepare there too.
  client.begin = ((...args: unknown[]) => {
    const fn = args.pop() as (tx: postgres.Sql) => unknown;
    return begin(...args, (tx: postgres.Sql) => fn(patch(tx)));
  }) as postgres.Sql['begin'];
  return patch(client);
}

/**
 * Applies drizzle/ migrations. On a server they run on a connection of their own, without the pool's statement
 * timeout (building an index on a large table may take longer), under an advisory lock so concurrent starts do not race.
 */
export async function runMigrations(handle: DatabaseHandle, opts: Pick<OpenOptions, 'databaseUrl' | 'connectTimeoutSeconds'> = {}): Promise<void> {
  if (handle.pglite) {
    await migratePglite(handle.db as never, { migrationsFolder: MIGRATIONS_FOLDER });
    return;
  }
  if (!opts.databaseUrl) throw new Error('runMigrations on a PostgreSQL server needs its databaseUrl');
  // max 1: the lock and the migration share one session; ending the client ends the session and its lock.
  const own = postgres(opts.databaseUrl, {
    max: 1,
    onnotice: () => {},
    connect_timeout: opts.connectTimeoutSeconds ?? 3,
    connection: { application_name: 'switchboard-migrate' },
  });
  try {
    await own`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    await migratePostgres(drizzlePostgres(own, { schema }) as never, { migrationsFolder: MIGRATIONS_FOLDER });
    await own`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
  } finally {
    await own.end({ timeout: 5 });
  }
}

/** Whether every migration in drizzle/ is recorded as applied. */
export async function migrationsApplied(db: Db, expected: number): Promise<boolean> {
  const rows = await db.execute<{ n: number }>(sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
  const first = (Array.isArray(rows) ? rows : (rows as { rows: { n: number }[] }).rows)[0];
  return Number(first?.n ?? 0) >= expected;
}
