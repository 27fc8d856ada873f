import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Db } from './client.ts';
import { settings } from './schema.ts';

/** The admin token when ADMIN_TOKEN is unset: generated once, shared by every process on the database. */
export async function generatedAdminToken(db: Db): Promise<{ token: string; created: boolean }> {
  const candidate = `sb_${randomBytes(24).toString('hex')}`;
  const inserted = await db.insert(settings).values({ key: 'admin_token', value: candidate }).onConflictDoNothing().returning();
  if (inserted.length) return { token: candidate, created: true };
  const [row] = await db.select().from(settings).where(eq(settings.key, 'admin_token'));
  return { token: row!.value, created: false };
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
