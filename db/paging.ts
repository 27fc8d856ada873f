/**
 * Keyset paging for lists ordered newest first by `(created_at desc, id desc)`.
 *
 * A cursor names the last row of a page: base64url of `<created_at in microseconds since the epoch>|<id>`.
 * Microseconds, not a JavaScript Date: PostgreSQL keeps them, and a cursor rounded to milliseconds would skip
 * or repeat rows created within the same millisecond. Clients treat the cursor as opaque.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';

export type Cursor = { micros: string; id: string };

const CURSOR = /^(\d{1,18})\|([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

export function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.micros}|${c.id}`).toString('base64url');
}

/** The cursor a `next_cursor` carried, or undefined when the text is not one. */
export function decodeCursor(text: string): Cursor | undefined {
  if (text.length > 100 || !/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  const m = CURSOR.exec(Buffer.from(text, 'base64url').toString('utf8'));
  return m ? { micros: m[1]!, id: m[2]!.toLowerCase() } : undefined;
}

/** A row's position, selected next to it so the cursor keeps the database's precision. */
export const positionOf = (createdAt: PgColumn) => sql<string>`(extract(epoch from ${createdAt}) * 1000000)::bigint::text`;

/** Rows strictly after the cursor in `(created_at desc, id desc)` order. */
export function afterCursor(createdAt: PgColumn, id: PgColumn, c: Cursor): SQL {
  return sql`(${createdAt}, ${id}) < (timestamptz 'epoch' + ${c.micros}::bigint * interval '1 microsecond', ${c.id}::uuid)`;
}

/** `%`, `_` and `\` in a search are literal characters, not ILIKE wildcards. */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
}

/**
 * One page from `limit + 1` rows read: the first `limit`, and the cursor of the last of them when more follow
 * (null at the end).
 */
export function pageOf<T>(rows: (T & { position: string; id: string })[], limit: number): { rows: T[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  const nextCursor = rows.length > limit && last ? encodeCursor({ micros: last.position, id: last.id }) : null;
  return { rows: page.map(({ position: _, ...row }) => row as unknown as T), nextCursor };
}
