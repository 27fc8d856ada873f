/**
 * The databases every database test runs on: embedded PGlite always, and a real PostgreSQL server when
 * DATABASE_URL is set (CI sets it when 127.0.0.1:5432 answers). Each suite gets a fresh, empty database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { type OpenedStore, openStore } from '../../db/index.ts';

export type TestDatabase = { name: 'pglite' | 'postgres'; env: Record<string, string>; drop(): Promise<void> };

export const databaseKinds: ('pglite' | 'postgres')[] = process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

export async function createTestDatabase(kind: 'pglite' | 'postgres'): Promise<TestDatabase> {
  if (kind === 'pglite') {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-test-'));
    return { name: kind, env: { DATA_DIR: dir }, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const admin = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
  const db = `sb_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  await admin.unsafe(`create database ${db}`);
  await admin.end();
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `/${db}`;
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-test-'));
  return {
    name: kind,
    env: { DATABASE_URL: url.toString(), DATA_DIR: dir },
    async drop() {
      rmSync(dir, { recursive: true, force: true });
      const a = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${db} with (force)`).catch(() => {});
      await a.end();
    },
  };
}

/**
 * The real store and queue on a fresh embedded database of its own, for fast tests of one module (opened once per
 * file; `npm run mutate` runs those files once per mutant). `remove()` closes it and deletes its directory.
 */
export async function openEmbeddedStore(name: string): Promise<OpenedStore & { remove(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), `switchboard-${name}-`));
  const opened = await openStore({
    dataDir: dir,
    queue: { maxAttempts: 3, retryDelaySeconds: 1, jobTimeoutSeconds: 60, supervise: false, onError: () => {} },
  });
  return Object.assign(opened, {
    async remove() {
      await opened.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}
