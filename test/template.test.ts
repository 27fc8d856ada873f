/** The prepared database a fresh DATA_DIR is copied from: migrated, with pg-boss's schema, built once. */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_FOLDER, migrationsApplied } from '../db/client.ts';
import { prepareTemplate } from '../db/template.ts';

describe('the prepared database', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-template-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has every migration applied, pg-boss installed at its own schema version and no template database, and is built once', async () => {
    const template = await prepareTemplate(MIGRATIONS_FOLDER);
    expect(await prepareTemplate(MIGRATIONS_FOLDER)).toBe(template);
    cpSync(template, join(dir, 'pgdata'), { recursive: true });
    const pglite = await PGlite.create(join(dir, 'pgdata'));
    try {
      const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
      expect(await migrationsApplied(drizzle(pglite) as never, journal.entries.length)).toBe(true);
      const pgboss = JSON.parse(readFileSync(fileURLToPath(import.meta.resolve('pg-boss/package.json')), 'utf8')) as { pgboss: { schema: number } };
      const { rows } = await pglite.query<{ version: number }>('select version from pgboss.version');
      expect(rows.map((r) => Number(r.version))).toEqual([pgboss.pgboss.schema]);
      // initdb's template databases are left out: every fresh DATA_DIR would copy them for nothing.
      expect((await pglite.query<{ datname: string }>('select datname from pg_database')).rows.map((r) => r.datname)).toEqual(['postgres']);
    } finally {
      await pglite.close();
    }
  });
});
