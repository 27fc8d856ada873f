import { asc, desc, eq } from 'drizzle-orm';
import type { DatabaseHandle, Db } from './client.ts';
import { routes } from './schema.ts';
import { createSignalledCache } from './signalled-cache.ts';

export type RuleRow = typeof routes.$inferSelect;
export type NewRule = Pick<RuleRow, 'source' | 'agent' | 'destination'> & { event?: string | null };

export async function listRules(db: Db): Promise<RuleRow[]> {
  return db.select().from(routes).orderBy(desc(routes.createdAt));
}

export async function createRule(db: Db, rule: NewRule): Promise<RuleRow> {
  const [row] = await db
    .insert(routes)
    .values({ ...rule, event: rule.event ?? null })
    .returning();
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

/** Rules stored before sources were canonicalized may be spelled `my_app` or `My-App`; folded, they keep matching. */
const folded = (source: string) => source.toLowerCase().replaceAll('_', '-');

export type RuleCache = {
  /** Rules for `source`, given in its canonical spelling (canonicalHookSource), oldest first. */
  match(source: string, type: string | undefined): Promise<RuleRow[]>;
  /** The rules changed: this process reads them again, and every other one is told. */
  changed(): Promise<void>;
};

/** Routing rules in memory: every event of a source with rules asks for them, and they change rarely. */
export function createRuleCache(handle: DatabaseHandle): RuleCache {
  const cache = createSignalledCache(handle, 'switchboard_routes', () => handle.db.select().from(routes).orderBy(asc(routes.createdAt)));
  return {
    async match(source, type) {
      return (await cache.get()).filter((r) => folded(r.source) === source && eventMatches(r.event, type));
    },
    changed: cache.changed,
  };
}
