/** Access rules, pending pairings and the access audit trail (the storage behind src/access). */
import { and, asc, count, desc, eq, gt, inArray, lte, notInArray, sql } from 'drizzle-orm';
import type { AccessStore, AccessRule, NewAccessRule, Pairing, PairingRequest, RuleKind } from '../src/access/index.ts';
import type { Db } from './client.ts';
import { accessAudit, accessPairings, accessRules, agents } from './schema.ts';

/** The audit table keeps this many newest rows. */
export const AUDIT_ROWS = 1000;

const presentRule = (r: typeof accessRules.$inferSelect): AccessRule => ({
  id: r.id,
  channel: r.channel,
  kind: r.kind,
  subject: r.subject,
  note: r.note,
  createdBy: r.createdBy,
  createdAt: r.createdAt,
});

const presentPairing = (p: typeof accessPairings.$inferSelect): Pairing => ({
  code: p.code,
  channel: p.channel,
  subject: p.subject,
  scope: p.scope,
  userName: p.userName,
  createdAt: p.createdAt,
  expiresAt: p.expiresAt,
});

export async function rulesFor(db: Db, channel: string, subjects: string[]): Promise<AccessRule[]> {
  if (!subjects.length) return [];
  const lowered = [...new Set(subjects.map((s) => s.toLowerCase()))];
  const rows = await db
    .select()
    .from(accessRules)
    .where(and(eq(accessRules.channel, channel), inArray(sql`lower(${accessRules.subject})`, lowered)));
  return rows.map(presentRule);
}

export async function listRules(db: Db): Promise<AccessRule[]> {
  return (await db.select().from(accessRules).orderBy(accessRules.channel, accessRules.kind, accessRules.subject)).map(presentRule);
}

export async function listPairings(db: Db, now: Date): Promise<Pairing[]> {
  return (await db.select().from(accessPairings).where(gt(accessPairings.expiresAt, now)).orderBy(accessPairings.createdAt)).map(presentPairing);
}

/** Appends to the audit trail and keeps only its newest AUDIT_ROWS rows. */
async function audit(db: Db, entry: { actor: string; action: string; channel?: string; subject?: string; detail?: string }): Promise<void> {
  await db.insert(accessAudit).values(entry);
  const keep = db.select({ id: accessAudit.id }).from(accessAudit).orderBy(desc(accessAudit.at), desc(accessAudit.id)).limit(AUDIT_ROWS);
  await db.delete(accessAudit).where(notInArray(accessAudit.id, keep));
}

export async function listAudit(db: Db, limit: number) {
  return db.select().from(accessAudit).orderBy(desc(accessAudit.at)).limit(limit);
}

/** Adds a rule (or returns the same one already there) and records who added it. */
export async function addRule(db: Db, rule: NewAccessRule): Promise<AccessRule> {
  return db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    const [existing] = await rulesFor(t, rule.channel, [rule.subject]).then((rows) => rows.filter((r) => r.kind === rule.kind));
    if (existing) return existing;
    const [row] = await t
      .insert(accessRules)
      .values({ channel: rule.channel, kind: rule.kind, subject: rule.subject, note: rule.note ?? null, createdBy: rule.createdBy })
      .returning();
    await audit(t, { actor: rule.createdBy, action: rule.kind, channel: rule.channel, subject: rule.subject, detail: rule.note ?? undefined });
    return presentRule(row!);
  });
}

/** Deletes a rule by id; false when there is none. */
export async function deleteRule(db: Db, id: string, actor: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    const [row] = await t.delete(accessRules).where(eq(accessRules.id, id)).returning();
    if (!row) return false;
    await audit(t, { actor, action: `revoke ${row.kind}`, channel: row.channel, subject: row.subject });
    return true;
  });
}

/** Deletes a pending pairing (the code is refused); false when there is none. */
export async function deletePairing(db: Db, code: string, actor: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    const [row] = await t.delete(accessPairings).where(eq(accessPairings.code, code.toUpperCase())).returning();
    if (!row) return false;
    await audit(t, { actor, action: 'reject pairing', channel: row.channel, subject: row.subject, detail: row.code });
    return true;
  });
}

/** Turns a pending, unexpired pairing into an allow rule for its person or chat; undefined when the code is unknown or expired. */
export async function approvePairing(db: Db, code: string, actor: string, now: Date): Promise<AccessRule | undefined> {
  return db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    const [pairing] = await t
      .delete(accessPairings)
      .where(and(eq(accessPairings.code, code.toUpperCase()), gt(accessPairings.expiresAt, now)))
      .returning();
    if (!pairing) return undefined;
    const note = `${pairing.scope === 'chat' ? 'group chat' : 'person'} paired with code ${pairing.code}${pairing.userName ? ` (${pairing.userName})` : ''}`;
    const [existing] = (await rulesFor(t, pairing.channel, [pairing.subject])).filter((r) => r.kind === 'allow');
    const rule =
      existing ??
      presentRule(
        (await t.insert(accessRules).values({ channel: pairing.channel, kind: 'allow', subject: pairing.subject, note, createdBy: actor }).returning())[0]!,
      );
    await audit(t, { actor, action: 'approve', channel: pairing.channel, subject: pairing.subject, detail: note });
    return rule;
  });
}

/**
 * Opens a pairing for `subject` unless one is pending (`pending`) or `max` are pending on the channel (`full`).
 * Expired pairings are dropped first. Two messages at once race on the unique (channel, subject): one gets the code.
 */
export async function openPairing(db: Db, req: PairingRequest): Promise<{ code: string } | { pending: true } | { full: true }> {
  await db.delete(accessPairings).where(lte(accessPairings.expiresAt, req.now));
  const [pending] = await db
    .select({ code: accessPairings.code })
    .from(accessPairings)
    .where(and(eq(accessPairings.channel, req.channel), eq(accessPairings.subject, req.subject)));
  if (pending) return { pending: true };
  const [{ n } = { n: 0 }] = await db.select({ n: count() }).from(accessPairings).where(eq(accessPairings.channel, req.channel));
  if (Number(n) >= req.max) return { full: true };
  const [row] = await db
    .insert(accessPairings)
    .values({
      code: req.code,
      channel: req.channel,
      subject: req.subject,
      scope: req.scope,
      userName: req.userName ?? null,
      createdAt: req.now,
      expiresAt: new Date(req.now.getTime() + req.ttlSeconds * 1000),
    })
    .onConflictDoNothing()
    .returning({ code: accessPairings.code });
  return row ? { code: row.code } : { pending: true };
}

export async function requiredRoles(db: Db): Promise<Map<string, 'admin' | 'member'>> {
  const rows = await db.select({ name: agents.name, role: agents.requiredRole }).from(agents).orderBy(asc(agents.name));
  return new Map(rows.map((r) => [r.name, r.role]));
}

export async function setRequiredRole(db: Db, name: string, role: 'admin' | 'member', actor: string) {
  return db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    const [row] = await t.update(agents).set({ requiredRole: role, updatedAt: sql`now()` }).where(eq(agents.name, name)).returning();
    if (row) await audit(t, { actor, action: `agent requires ${role}`, subject: name });
    return row;
  });
}

/** The AccessStore port (src/access) bound to one database. */
export function accessStore(db: Db): AccessStore {
  return {
    rulesFor: (channel, subjects) => rulesFor(db, channel, subjects),
    openPairing: (req) => openPairing(db, req),
    requiredRoles: () => requiredRoles(db),
  };
}

export type { RuleKind };
