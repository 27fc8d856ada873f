/**
 * Reviewing a pull request over time: each push is reviewed from the last reviewed commit on (or in full after a
 * force-push or a `/review`), and one execution at a time posts under the pull request's review lease, so no finding
 * is made twice. The code host only answers questions (`PullRequest`) and posts what is decided here (`ReviewHost`).
 */
import { RetryLaterError } from '../ports.ts';
import type { Finding } from '../types.ts';
import { fingerprintIn, indexDiff, placeable, planReview, type ChangedFile, type ReviewPlan } from './plan.ts';

/**
 * What code review remembers per pull request across processes and restarts (the `review_state` table), so a
 * push is reviewed from the last reviewed commit on and no comment is made twice.
 */
export type ReviewMemory = {
  /** The head commit of the newest review posted on `repo#pr`, or undefined before the first. */
  lastReviewedHead(repo: string, pr: number): Promise<string | undefined>;
  /** Which of `fingerprints` (path + line content + normalized body) were already posted on `repo#pr`. */
  knownFingerprints(repo: string, pr: number, fingerprints: string[]): Promise<Set<string>>;
  /** Records a posted review: its head commit and the fingerprints of the comments it made. */
  recordReview(review: { repo: string; pr: number; headSha: string; fingerprints: string[]; executionId?: string }): Promise<void>;
  /**
   * Takes `repo#pr`'s review lease for `holder` (an execution id) for `seconds`; false while another holder's runs.
   * Whoever holds it checks fingerprints, posts and records alone, so two executions never post the same comment.
   */
  acquireReviewLease(repo: string, pr: number, holder: string, seconds: number): Promise<boolean>;
  /** Gives the lease back (only its holder can). */
  releaseReviewLease(repo: string, pr: number, holder: string): Promise<void>;
};

/** The files changed between two commits, as the code host compares them. */
export type Comparison = {
  /** The later commit is a fast-forward of the earlier one (no force-push in between). */
  ahead: boolean;
  files: ChangedFile[];
  /** The host listed only the first files of the comparison. */
  truncated: boolean;
};

/** A pull request as its code host describes it (`ChannelAdapter.prepare` loads it), with the one question asked of it. */
export type PullRequest = {
  owner: string;
  repo: string;
  number: number;
  headSha: string;
  baseSha: string;
  /** A person asked (`/review`): a full review, even of a head reviewed before. */
  requested: boolean;
  /** The comparison from `base` to `head`, or undefined when the host no longer knows `base` (a force-push dropped it). */
  compare(base: string, head: string): Promise<Comparison | undefined>;
};

/** How long one execution may hold a pull request's review lease: one review's calls, with short rate-limit waits. */
export const REVIEW_LEASE_SECONDS = 60;
const LEASE_RETRY_SECONDS = 5;

/** Another execution is posting a review on the same pull request: this one runs again shortly (not counted as an attempt). */
export class ReviewInProgressError extends RetryLaterError {
  override readonly code = 'review_in_progress';
  constructor(pr: string) {
    super(LEASE_RETRY_SECONDS * 1000, `another execution is posting a review on ${pr}`);
    this.message = `another execution is posting a review on ${pr}; this one runs again in ${LEASE_RETRY_SECONDS} s, once that review is recorded`;
    this.name = 'ReviewInProgressError';
  }
}

/** What the review reads (`text`, the diff for the agent) and what it covers: the whole pull request, or only what changed since the last review. */
export async function planPullRequestReview(memory: Pick<ReviewMemory, 'lastReviewedHead'>, pr: PullRequest): Promise<{ text: string; plan: ReviewPlan }> {
  const name = `${pr.owner}/${pr.repo}`;
  // A `/review` asks for a full re-review; events review incrementally once a review exists.
  const last = pr.requested ? undefined : await memory.lastReviewedHead(name, pr.number);
  let mode: ReviewPlan['mode'] = 'full';
  let compared: Comparison | undefined;
  if (last === pr.headSha) mode = 'unchanged';
  else if (last) {
    const since = await pr.compare(last, pr.headSha);
    // Anything but a fast-forward (a force-push rewrote history) is reviewed in full; fingerprints prevent repeats.
    if (since?.ahead) {
      mode = 'incremental';
      compared = since;
    }
  }
  if (mode === 'full') {
    compared = await pr.compare(pr.baseSha, pr.headSha);
    if (!compared) throw new Error(`the code host no longer knows the base commit ${pr.baseSha.slice(0, 7)} of ${name}#${pr.number}; the review runs again`);
  }
  const planned = planReview(compared?.files ?? []);
  const plan: ReviewPlan = {
    owner: pr.owner,
    repo: pr.repo,
    number: pr.number,
    headSha: pr.headSha,
    baseSha: pr.baseSha,
    mode,
    ...(mode === 'incremental' ? { since: last } : {}),
    reviewed: planned.reviewed,
    partial: planned.partial,
    skipped: planned.skipped,
    addedTotal: planned.addedTotal,
    removedTotal: planned.removedTotal,
    addedReviewed: planned.addedReviewed,
    truncatedList: compared?.truncated ?? false,
    requested: pr.requested,
  };
  return { text: planned.text, plan };
}

/** What to post: new findings inline where the diff takes them, the rest in the review body, and how many were left out as repeats. */
export type ReviewDecision = { inline: Finding[]; outside: Finding[]; repeated: number };

/** The code host's side of posting a planned review. */
export type ReviewHost = {
  /** Whether this execution's review is on the pull request already (a retried delivery after a crash). */
  posted(): Promise<boolean>;
  /** The pull request's own diff at the reviewed head, which the host validates inline comments against. */
  diff(): Promise<ChangedFile[]>;
  post(decision: ReviewDecision): Promise<void>;
};

/**
 * Posts `findings` on the planned pull request through `host`, under its review lease: never a head reviewed
 * meanwhile (unless a person asked), never a finding made before, and nothing at all for a push with nothing new.
 */
export async function deliverReview(memory: ReviewMemory, plan: ReviewPlan, findings: Finding[], executionId: string, host: ReviewHost): Promise<void> {
  if (plan.mode === 'unchanged') return; // this head was reviewed already: nothing new to say
  const name = `${plan.owner}/${plan.repo}`;
  if (!(await memory.acquireReviewLease(name, plan.number, executionId, REVIEW_LEASE_SECONDS))) {
    throw new ReviewInProgressError(`${name}#${plan.number}`);
  }
  try {
    // Read again under the lease: another execution may have reviewed this head, or made these comments, meanwhile.
    if (!plan.requested && (await memory.lastReviewedHead(name, plan.number)) === plan.headSha) return;
    if (await host.posted()) return;
    const index = indexDiff(await host.diff());
    const all = findings.map((f) => ({ f, fp: fingerprintIn(index, f), ok: placeable(f, index) }));
    const known = await memory.knownFingerprints(
      name,
      plan.number,
      all.map((x) => x.fp),
    );
    const fresh = all.filter((x) => !known.has(x.fp));
    // A push that adds nothing new to say stays quiet: no review just to say so.
    if (plan.mode !== 'incremental' || fresh.length > 0) {
      await host.post({
        inline: fresh.filter((x) => x.ok).map((x) => x.f),
        outside: fresh.filter((x) => !x.ok).map((x) => x.f),
        repeated: all.length - fresh.length,
      });
    }
    await memory.recordReview({ repo: name, pr: plan.number, headSha: plan.headSha, fingerprints: fresh.map((x) => x.fp), executionId });
  } finally {
    await memory.releaseReviewLease(name, plan.number, executionId);
  }
}
