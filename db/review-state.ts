/** Review memory per pull request: comments already made (fingerprints) and the last reviewed head commit. */
import { and, desc, eq, inArray, like, sql } from 'drizzle-orm';
import type { Db } from './client.ts';
import { reviewState } from './schema.ts';

const HEAD = 'head:';

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
