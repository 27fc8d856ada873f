/** Review memory per pull request: comments already made (fingerprints) and the last reviewed head commit. */
import { and, desc, eq, inArray, isNull, like, lt, or, sql } from 'drizzle-orm';
import type { Db } from './client.ts';
import { reviewState } from './schema.ts';

const HEAD = 'head:';
const LEASE = 'lease:';

/** The head commit of the newest review of `repo#pr`, or undefined before the first one. */
export async function lastReviewedHead(db: Db, repo: string, pr: number): Promise<string | undefined> {
  const [row] = await db
    .select({ headSha: reviewState.headSha })
    .from(reviewState)
    .where(and(eq(reviewState.repo, repo), eq(reviewState.pr, pr), like(reviewState.fingerprint, `${HEAD}%`)))
    .orderBy(desc(reviewState.createdAt), desc(reviewState.id))
    .limit(1);
  return row?.headSha;
}

/** Which of `fingerprints` were already recorded for `repo#pr`. */
export async function knownFingerprints(db: Db, repo: string, pr: number, fingerprints: string[]): Promise<Set<string>> {
  if (fingerprints.length === 0) return new Set();
  const rows = await db
    .select({ fingerprint: reviewState.fingerprint })
    .from(reviewState)
    .where(and(eq(reviewState.repo, repo), eq(reviewState.pr, pr), inArray(reviewState.fingerprint, fingerprints)));
  return new Set(rows.map((r) => r.fingerprint));
}

/**
 * Records a posted review in one statement: the fingerprints of the comments it made and its head commit.
 * Re-recording is harmless (a retried delivery, two processes at once): known fingerprints stay as they are,
 * and the head row is touched so it counts as the newest review.
 */
export async function recordReview(db: Db, review: { repo: string; pr: number; headSha: string; fingerprints: string[]; executionId?: string }) {
  const base = { repo: review.repo, pr: review.pr, headSha: review.headSha, executionId: review.executionId ?? null };
  const keys = [...new Set(review.fingerprints), `${HEAD}${review.headSha}`];
  await db
    .insert(reviewState)
    .values(keys.map((fingerprint) => ({ ...base, fingerprint })))
    .onConflictDoUpdate({
      target: [reviewState.repo, reviewState.pr, reviewState.fingerprint],
      set: { createdAt: sql`now()`, executionId: sql`excluded.execution_id` },
      setWhere: like(reviewState.fingerprint, `${HEAD}%`),
    });
}

/**
 * Takes the review lease of `repo#pr` for `holder` (an execution id) for `seconds`, unless another holder's lease is
 * still running. One statement, so two processes cannot both win; no transaction is held while the holder calls GitHub.
 * The holder may take its own lease again (a retried attempt).
 */
export async function acquireReviewLease(db: Db, repo: string, pr: number, holder: string, seconds: number): Promise<boolean> {
  const until = sql`now() + make_interval(secs => ${seconds})`;
  const rows = await db
    .insert(reviewState)
    .values({ repo, pr, fingerprint: LEASE, headSha: '', lockedBy: holder, lockedUntil: until })
    .onConflictDoUpdate({
      target: [reviewState.repo, reviewState.pr, reviewState.fingerprint],
      set: { lockedBy: holder, lockedUntil: until },
      setWhere: or(isNull(reviewState.lockedUntil), lt(reviewState.lockedUntil, sql`now()`), eq(reviewState.lockedBy, holder)),
    })
    .returning({ id: reviewState.id });
  return rows.length > 0;
}

/** Gives the lease back once the review is recorded; only its holder can. */
export async function releaseReviewLease(db: Db, repo: string, pr: number, holder: string): Promise<void> {
  await db
    .update(reviewState)
    .set({ lockedUntil: null, lockedBy: null })
    .where(and(eq(reviewState.repo, repo), eq(reviewState.pr, pr), eq(reviewState.fingerprint, LEASE), eq(reviewState.lockedBy, holder)));
}
