/**
 * Webhook-to-chat routing rules: an event from a hook source (optionally of one type) runs an agent and posts to a
 * destination. The table keeps its contract name, `routes`, as do `/api/routes` and the `routes` CLI verb.
 */
import { desc, eq, sql } from 'drizzle-orm';
import type { Db } from './client.ts';
import { routes } from './schema.ts';

export type RuleRow = typeof routes.$inferSelect;
export type NewRule = Pick<RuleRow, 'source' | 'agent' | 'destination'> & { event?: string | null };

export async function listRules(db: Db): Promise<RuleRow[]> {
  return db.select().from(routes).orderBy(desc(routes.createdAt));
}

export async function createRule(db: Db, rule: NewRule): Promise<RuleRow> {
  const [row] = await db.insert(routes).values({ ...rule, event: rule.event ?? null }).returning();
  return row!;
}

export async function deleteRule(db: Db, id: string): Promise<boolean> {
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
export async function matchRules(db: Db, source: string, type: string | undefined): Promise<RuleRow[]> {
  const folded = sql`replace(lower(${routes.source}), '_', '-')`;
  const rows = await db.select().from(routes).where(eq(folded, source)).orderBy(routes.createdAt);
  return rows.filter((r) => eventMatches(r.event, type));
}
