import { eq, sql } from 'drizzle-orm';
import type { Db } from './client.ts';
import { agents } from './schema.ts';

/**
 * Makes sure every known agent has a row (enabled by default, requiring the role the agent asks for) without
 * touching operators' choices.
 */
export async function seedAgents(db: Db, list: readonly (string | { name: string; requiredRole?: 'admin' | 'member' })[]): Promise<void> {
  if (!list.length) return;
  const rows = list.map((a) => (typeof a === 'string' ? { name: a } : { name: a.name, requiredRole: a.requiredRole ?? 'member' }));
  await db.insert(agents).values(rows).onConflictDoNothing();
}

export async function listAgentRows(db: Db) {
  return db.select().from(agents).orderBy(agents.name);
}

export async function setAgentEnabled(db: Db, name: string, enabled: boolean) {
  const [row] = await db.update(agents).set({ enabled, updatedAt: sql`now()` }).where(eq(agents.name, name)).returning();
  return row;
}
