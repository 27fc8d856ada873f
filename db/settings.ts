import { eq } from 'drizzle-orm';
import { hashToken } from '../src/admin-token.ts';
import type { Db } from './client.ts';
import { settings } from './schema.ts';

/** The sha256 of the generated admin token (the token itself is never stored). */
export const ADMIN_TOKEN_HASH_SETTING = 'admin_token_sha256';
/** Where earlier versions kept the generated token in clear; turned into a hash at start. */
const LEGACY_ADMIN_TOKEN_SETTING = 'admin_token';

/** Replaces a token stored in clear by earlier versions with its hash, in one transaction. */
export async function hashLegacyAdminToken(db: Db): Promise<void> {
  await db.transaction(async (tx) => {
    const [legacy] = await tx.delete(settings).where(eq(settings.key, LEGACY_ADMIN_TOKEN_SETTING)).returning();
    if (legacy)
      await tx
        .insert(settings)
        .values({ key: ADMIN_TOKEN_HASH_SETTING, value: hashToken(legacy.value) })
        .onConflictDoNothing();
  });
}

/**
 * The admin token when ADMIN_TOKEN is unset: generated once, shared by every process on the database through
 * its hash. `token` is returned only to the process that created it, which prints it once.
 */
export async function ensureAdminToken(db: Db, candidate: string): Promise<{ hash: string; token?: string }> {
  await hashLegacyAdminToken(db);
  const hash = hashToken(candidate);
  const inserted = await db.insert(settings).values({ key: ADMIN_TOKEN_HASH_SETTING, value: hash }).onConflictDoNothing().returning();
  if (inserted.length) return { hash, token: candidate };
  return { hash: (await readSetting(db, ADMIN_TOKEN_HASH_SETTING))! };
}

/** Stores the hash of a new admin token; the old one stops working in every process within their cache time. */
export async function rotateAdminToken(db: Db, token: string): Promise<string> {
  await hashLegacyAdminToken(db);
  const hash = hashToken(token);
  await writeSetting(db, ADMIN_TOKEN_HASH_SETTING, hash);
  return hash;
}

/** The value stored under `key`, or undefined. */
export async function readSetting(db: Db, key: string): Promise<string | undefined> {
  const [row] = await db.select().from(settings).where(eq(settings.key, key));
  return row?.value;
}

/** Stores `value` under `key`, replacing what was there. */
export async function writeSetting(db: Db, key: string, value: string): Promise<void> {
  await db.insert(settings).values({ key, value }).onConflictDoUpdate({ target: settings.key, set: { value } });
}
