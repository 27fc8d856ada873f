import { desc, eq, sql } from 'drizzle-orm';
import type { Db } from './client.ts';
import { routes } from './schema.ts';

export type RouteRow = typeof routes.$inferSelect;
export type NewRoute = Pick<RouteRow, 'source' | 'agent' | 'destination'> & { event?: string | null };

export async function listRoutes(db: Db): Promise<RouteRow[]> {
  return db.select().from(routes).orderBy(desc(routes.createdAt));
}

export async function createRoute(db: Db, route: NewRoute): Promise<RouteRow> {
  const [row] = await db.insert(routes).values({ ...route, event: route.event ?? null }).returning();
  return row!;
}

export async function deleteRoute(db: Db, id: string): Promise<boolean> {
  return (await db.delete(routes).where(eq(routes.id, id)).returning({ id: routes.id })).length > 0;
}

/** `build.*` matches `build.failed`; `*` or no event matches every event of the source. */
export function eventMatches(pattern: string | null, type: string | undefined): boolean {
  if (pattern === null || pattern === '*') return true;
  if (type === undefined) return false;
  return pattern.endsWith('*') ? type.startsWith(pattern.slice(0, -1)) : pattern === type;
}

/**
 * Rules for `source`, given in its canonical spelling (canonicalHookSource). Rules stored before sources were
 * canonicalized may be spelled `my_app` or `My-App`; they are folded the same way here, so they keep matching.
 */
export async function matchRoutes(db: Db, source: string, type: string | undefined): Promise<RouteRow[]> {
  const folded = sql`replace(lower(${routes.source}), '_', '-')`;
  const rows = await db.select().from(routes).where(eq(folded, source)).orderBy(routes.createdAt);
  return rows.filter((r) => eventMatches(r.event, type));
}
