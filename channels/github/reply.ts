/**
 * The worker side of GitHub: loads what an answer needs before the agent runs (`prepare`: a pull request's diff, or
 * the pull request itself as the conversation), then posts the answer where it was asked for (`reply`): a review with
 * inline comments, an issue comment, or a thread reply; and posts routed replies to `owner/repo#number` (`postTo`).
 */
import type { Octokit } from '@octokit/rest';
import { createHash } from 'node:crypto';
import { commentableLines, parseDiff } from '../../src/diff.ts';
import { RetryLaterError, type FeedbackRecorder, type Logger, type Prepared, type ReviewMemory } from '../../src/ports.ts';
import { REVIEW_TOKEN_BUDGET, reviewDiff, type ReviewSummary } from '../../src/review.ts';
import type { Envelope, HistoryMessage, Reply, ReviewComment } from '../../src/types.ts';
import { executionMarker, markedExecution, type GithubReplyRef } from './normalize.ts';

// GitHub refuses review and comment bodies over 65,536 characters; the rest is headroom for what GitHub adds.
const MAX_BODY = 65_000;
// A comparison lists at most 300 files; beyond that GitHub leaves files out.
const COMPARE_FILE_LIMIT = 300;
// Longer lists in a review body ("…and N more") help nobody and could push the body past GitHub's limit.
const MAX_LISTED = 50;
const MAX_LISTED_CHARS = 300;
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

const TARGET = /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))\/([A-Za-z0-9._-]{1,100})#([1-9]\d{0,9})$/;

/** Why `target` cannot be a GitHub routing destination, or undefined when it can (`owner/repo#number`). */
export function githubTargetProblem(target: string): string | undefined {
  if (TARGET.test(target.trim())) return undefined;
  return `GitHub destination "${target}" is not owner/repo#number (for example acme/shop#12): set the routing rule's destination target to the issue or pull request to comment on`;
}

/** A routing destination on GitHub: `owner/repo#number`, an issue or pull request that gets an issue comment. */
export function parseGithubTarget(target: string): { owner: string; repo: string; number: number } {
  const m = TARGET.exec(target.trim());
  if (!m) throw new Error(githubTargetProblem(target));
  return { owner: m[1]!, repo: m[2]!, number: Number(m[3]) };
}

type ChangedFile = { filename: string; status: string; patch?: string; previous_filename?: string; additions: number; deletions?: number };

/** What one review covered; kept with the reply (`context.review`) so delivery posts against the same commits. */
export type ReviewPlan = {
  owner: string;
  repo: string;
  number: number;
  headSha: string;
  baseSha: string;
  /** `incremental`: only what changed since `since`, the last reviewed head; `unchanged`: nothing new to review. */
  mode: 'full' | 'incremental' | 'unchanged';
  since?: string;
  reviewed: string[];
  partial: { path: string; hunksLeft: number }[];
  skipped: { path: string; reason: string }[];
  addedTotal: number;
  removedTotal: number;
  addedReviewed: number;
  /** GitHub listed only the first 300 files of the comparison. */
  truncatedList: boolean;
  /** A person asked (`/review`): review even a head reviewed before. Events skip a head another execution reviewed meanwhile. */
  requested: boolean;
};

// The agent's estimate (src/llm tokens): 4 characters a token, rounded up per piece so the sum never falls short.
const tokens = (text: string) => Math.ceil(text.length / 4);

function fileHeader(f: ChangedFile): string {
  const from = f.status === 'added' ? '/dev/null' : `a/${f.previous_filename ?? f.filename}`;
  return `diff --git a/${f.previous_filename ?? f.filename} b/${f.filename}\n--- ${from}\n+++ b/${f.filename}\n`;
}

/**
 * Splits changed files into per-hunk chunks and keeps them, in order, while they fit `budget` tokens. Deleted files,
 * files GitHub shows no patch for (binaries, huge files), lockfiles, generated and minified files (the core review's
 * own classification) and deletion-only hunks are left out and listed, so the summary can state its coverage.
 */
export function planReview(files: ChangedFile[], budget = REVIEW_TOKEN_BUDGET): { text: string } & Pick<ReviewPlan, 'reviewed' | 'partial' | 'skipped' | 'addedTotal' | 'removedTotal' | 'addedReviewed'> {
  const out = { text: '', reviewed: [] as string[], partial: [] as ReviewPlan['partial'], skipped: [] as ReviewPlan['skipped'], addedTotal: 0, removedTotal: 0, addedReviewed: 0 };
  let used = 0;
  for (const f of files) {
    out.addedTotal += f.additions;
    out.removedTotal += f.deletions ?? 0;
    if (f.status === 'removed') {
      out.skipped.push({ path: f.filename, reason: 'deleted file' });
      continue;
    }
    if (!f.patch) {
      out.skipped.push({ path: f.filename, reason: f.status === 'renamed' && f.additions === 0 ? 'renamed without changes' : 'no diff from GitHub (binary or too large)' });
      continue;
    }
    const header = fileHeader(f);
    const parsed = parseDiff(header + f.patch)[0];
    const reason = parsed ? reviewDiff([parsed]).summary.skipped[0]?.reason : 'unreadable patch';
    if (reason) {
      out.skipped.push({ path: f.filename, reason });
      continue;
    }
    const hunks = f.patch.split(/^(?=@@ )/m).filter((h) => h.startsWith('@@'));
    const withAdditions = hunks.filter((h) => /^\+/m.test(h.slice(h.indexOf('\n') + 1)));
    if (withAdditions.length === 0) {
      out.skipped.push({ path: f.filename, reason: 'only deletions' });
      continue;
    }
    let kept = '';
    let left = 0;
    // The file header counts too: the model reads exactly this text, so it must fit the same budget.
    const headerCost = tokens(header);
    for (const hunk of withAdditions) {
      const body = hunk.endsWith('\n') ? hunk : `${hunk}\n`;
      const cost = tokens(body) + (kept ? 0 : headerCost);
      if (left > 0 || used + cost > budget) {
        left++;
        continue;
      }
      used += cost;
      kept += body;
      out.addedReviewed += (body.match(/^\+/gm) ?? []).length;
    }
    if (kept) {
      out.text += header + kept;
      out.reviewed.push(f.filename);
    }
    if (left > 0) {
      if (kept) out.partial.push({ path: f.filename, hunksLeft: left });
      else out.skipped.push({ path: f.filename, reason: 'over the review budget' });
    }
    const dropped = hunks.length - withAdditions.length;
    if (dropped > 0 && kept) out.skipped.push({ path: f.filename, reason: `${dropped} deletion-only hunk${dropped === 1 ? '' : 's'}` });
  }
  return out;
}

/** Same finding on the same code = same fingerprint, even when the code moved to another line. */
export function fingerprint(path: string, lineText: string, body: string): string {
  const normalized = body.toLowerCase().replace(/\d+/g, '#').replace(/\s+/g, ' ').trim();
  return createHash('sha256').update(`${path}\n${lineText.trim()}\n${normalized}`).digest('hex').slice(0, 40);
}

type DiffIndex = Map<string, { right: Map<number, { text: string; hunk: number }>; left: Map<number, number> }>;

/** New-side line texts and hunk membership per path, from the pull request's own diff. */
function indexDiff(files: ChangedFile[]): DiffIndex {
  const index: DiffIndex = new Map();
  for (const f of files) {
    const parsed = f.patch ? parseDiff(fileHeader(f) + f.patch)[0] : undefined;
    if (!parsed) continue;
    const commentable = commentableLines(parsed);
    const entry = { right: new Map<number, { text: string; hunk: number }>(), left: new Map<number, number>() };
    parsed.hunks.forEach((hunk, h) => {
      for (const line of hunk.lines) {
        if (line.newLine !== undefined && commentable.has(line.newLine)) entry.right.set(line.newLine, { text: line.text, hunk: h });
        if (line.kind === 'del' && line.oldLine !== undefined) entry.left.set(line.oldLine, h);
      }
    });
    index.set(f.filename, entry);
  }
  return index;
}

/** Whether GitHub will accept the comment inline: every line it spans is in one hunk of the diff. */
function placeable(c: ReviewComment, index: DiffIndex): boolean {
  const file = index.get(c.path);
  if (!file) return false;
  const hunkOf = (line: number) => (c.side === 'LEFT' ? file.left.get(line) : file.right.get(line)?.hunk);
  const end = hunkOf(c.line);
  if (end === undefined) return false;
  return c.startLine === undefined || c.startLine >= c.line || hunkOf(c.startLine) === end;
}

const location = (c: ReviewComment) => `\`${c.path}:${c.startLine && c.startLine < c.line ? `${c.startLine}-` : ''}${c.line}\``;
const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, Math.max(0, max - 40))}\n\n… (cut to fit GitHub's limit)` : text);
const oneLine = (text: string) => clip(text.replace(/\s*\n+\s*/g, ' '), MAX_LISTED_CHARS);
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const FEEDBACK_HINT = '<sub>Was this useful? React 👍 or 👎, or reply `/feedback +1` or `/feedback -1`.</sub>';

/** At most MAX_LISTED lines, then one saying how many were left out. */
function capped<T>(items: T[], line: (item: T) => string): string[] {
  const out = items.slice(0, MAX_LISTED).map(line);
  if (items.length > MAX_LISTED) out.push(`- …and ${items.length - MAX_LISTED} more`);
  return out;
}

/** What the review read and left out: the same for every provider, so coverage is stated even when a model wrote the text. */
function coverage(plan: ReviewPlan, summary: ReviewSummary | undefined, readBy: string): string[] {
  const lines: string[] = [];
  const considered = plan.reviewed.length + new Set(plan.skipped.filter((s) => !plan.reviewed.includes(s.path)).map((s) => s.path)).size;
  if (summary) {
    const found = Object.values(summary.findingsByRule).reduce((a, b) => a + (b ?? 0), 0);
    lines.push(`**Risk:** ${summary.risk} (${plural(found, 'finding')}).`);
  }
  lines.push(`**Changed${plan.mode === 'incremental' ? ' since the last review' : ''}:** ${plural(considered, 'file')}, +${plan.addedTotal} −${plan.removedTotal} lines.`);
  lines.push(
    `**Coverage:** ${plan.reviewed.length} of ${considered} changed file${considered === 1 ? '' : 's'} reviewed` +
      `${plan.partial.length ? ` (${plan.partial.length} partially)` : ''}, ${plan.addedReviewed} of ${plan.addedTotal} added lines, read by ${readBy}.` +
      (plan.mode === 'incremental' ? ` Only changes since ${plan.since!.slice(0, 7)} (the last reviewed commit) were read.` : ''),
  );
  if (plan.truncatedList) lines.push(`GitHub lists at most ${COMPARE_FILE_LIMIT} files in a comparison; files past that were not reviewed.`);
  if (plan.reviewed.length) {
    lines.push('', `**Reviewed (${plan.reviewed.length}):**`, ...capped(plan.reviewed, (path) => `- \`${path}\``));
  }
  lines.push(...capped(plan.partial, (p) => `- \`${p.path}\`: ${plural(p.hunksLeft, 'hunk')} left out (over the review budget)`));
  for (const g of summary?.general ?? []) {
    lines.push('', `**${g.rule === 'missing-tests' ? 'Source changed without tests' : g.rule}:** ${clip(g.body, 2 * MAX_LISTED_CHARS)}`);
  }
  if (plan.skipped.length) {
    lines.push('', `**Skipped (${plan.skipped.length}):**`, ...capped(plan.skipped, (s) => `- \`${s.path}\` — ${s.reason}`));
  }
  return lines;
}

/** Who read the diff: the heuristics always; a model too unless the offline provider answered. */
function readers(reply: Reply): string {
  const llm = reply.data?.llm as { provider?: string; model?: string } | undefined;
  return llm?.provider && llm.provider !== 'offline' ? `the heuristics and ${llm.provider} (${llm.model ?? 'model'})` : 'the offline heuristics';
}

/**
 * The review body, never over GitHub's limit: what the agent said (without its chat-style list of inline comments),
 * then the fixed tail (risk, coverage, files, findings without a line, leftovers), the feedback hint and the marker.
 */
export function reviewBody(plan: ReviewPlan, reply: Reply, parts: { repeated: number; outside: ReviewComment[]; note?: string }, executionId: string): string {
  const listed = `\n\nInline comments (${reply.comments?.length ?? 0}):\n`;
  const cut = reply.comments?.length ? reply.text.lastIndexOf(listed) : -1;
  const summary = reply.data?.summary as ReviewSummary | undefined;
  const said = summary ? (cut >= 0 ? reply.text.slice(0, cut) : reply.text) : 'No reviewable changes: every changed file was skipped (see below).';
  const tail = coverage(plan, summary, readers(reply));
  if (parts.repeated) tail.push('', `${parts.repeated} finding${parts.repeated === 1 ? ' was' : 's were'} already raised on an earlier push and ${parts.repeated === 1 ? 'is' : 'are'} not repeated.`);
  if (parts.outside.length) {
    tail.push('', parts.note ?? `**Comments on lines outside the diff (${parts.outside.length}):**`);
    tail.push(...capped(parts.outside, (c) => `- ${location(c)} — ${oneLine(c.body)}`));
  }
  const head = `### Switchboard review${plan.mode === 'incremental' ? ' (new changes)' : ''}\n\n`;
  const closing = `\n\n${FEEDBACK_HINT}\n${executionMarker(executionId)}`;
  // The tail is bounded by its caps; clipping it too is the last guard, and always leaves the agent's text some room.
  const end = `\n\n---\n${clip(tail.join('\n'), MAX_BODY / 2)}${closing}`;
  return head + clip(said.trim(), MAX_BODY - head.length - end.length) + end;
}

export type ReplierOptions = {
  clientFor(ref: Pick<GithubReplyRef, 'installationId'>): Octokit;
  /** The client for a repository named by a routing rule (with App auth: that repository's installation). */
  clientForRepo(owner: string, repo: string): Promise<Octokit>;
  memory: ReviewMemory;
  feedback: FeedbackRecorder;
  /** The login of the hub's own comments; undefined while GitHub will not say. Only those comments can be rated. */
  ownLogin(): Promise<string | undefined>;
  logger?: Logger;
};

type PrComment = { id: number; body?: string | null; created_at?: string; user?: { login: string; type?: string } | null; in_reply_to_id?: number; reactions?: { '+1'?: number; '-1'?: number } };

/** Whether `login` (the hub's own) wrote the comment; never when the hub's login is unknown. */
const writtenBy = (c: PrComment, login: string | undefined) => login !== undefined && c.user?.login?.toLowerCase() === login.toLowerCase();

const isStatus = (err: unknown, ...statuses: number[]) => statuses.includes((err as { status?: number })?.status ?? 0);

export function createGithubReplier(opts: ReplierOptions) {
  async function compare(gh: Octokit, ref: { owner: string; repo: string }, basehead: string) {
    const { data } = await gh.repos.compareCommitsWithBasehead({ owner: ref.owner, repo: ref.repo, basehead });
    return { status: data.status, files: (data.files ?? []) as ChangedFile[] };
  }

  /** Best effort: a missing permission for reactions must not cost the review. */
  async function react(gh: Octokit, ref: GithubReplyRef, content: 'eyes') {
    const { owner, repo } = ref;
    try {
      if (ref.kind === 'issue_comment' && ref.commentId) await gh.reactions.createForIssueComment({ owner, repo, comment_id: ref.commentId, content });
      else if (ref.kind === 'review_comment' && ref.commentId) await gh.reactions.createForPullRequestReviewComment({ owner, repo, comment_id: ref.commentId, content });
      else await gh.reactions.createForIssue({ owner, repo, issue_number: ref.number, content });
    } catch (err) {
      opts.logger?.warn({ err, pr: `${owner}/${repo}#${ref.number}` }, 'could not add the 👀 reaction');
    }
  }

  /** The pull request's comments (issue comments and review comments), or undefined when GitHub would not list them. */
  async function listComments(gh: Octokit, ref: GithubReplyRef): Promise<{ issue: PrComment[]; review: PrComment[] } | undefined> {
    const { owner, repo, number } = ref;
    try {
      const [issue, review] = await Promise.all([
        gh.paginate(gh.issues.listComments, { owner, repo, issue_number: number, per_page: 100 }),
        gh.paginate(gh.pulls.listReviewComments, { owner, repo, pull_number: number, per_page: 100 }),
      ]);
      return { issue: issue as PrComment[], review: review as PrComment[] };
    } catch (err) {
      if (err instanceof RetryLaterError) throw err; // rate-limited: the queue runs this again later
      opts.logger?.warn({ err, pr: `${owner}/${repo}#${number}` }, 'could not list the pull request comments');
      return undefined;
    }
  }

  /**
   * GitHub sends no event for reactions, so 👍/👎 on the hub's comments are collected whenever the pull request
   * is worked on, and recorded on the execution each comment names. Votes are upserts, so counting again is harmless.
   */
  async function collectReactionVotes(gh: Octokit, envelope: Envelope, ref: GithubReplyRef, comments: { issue: PrComment[]; review: PrComment[] }) {
    const { owner, repo, number } = ref;
    try {
      const voted = [...comments.issue.map((c) => ({ c, review: false })), ...comments.review.map((c) => ({ c, review: true }))].filter(
        ({ c }) => markedExecution(c.body) && ((c.reactions?.['+1'] ?? 0) > 0 || (c.reactions?.['-1'] ?? 0) > 0),
      );
      // Anyone can write the marker into a comment of their own: only the hub's own comments rate what they name.
      const self = voted.length > 0 ? await opts.ownLogin() : undefined;
      for (const { c, review } of voted) {
        if (!writtenBy(c, self)) continue;
        const reactions = review
          ? await gh.paginate(gh.reactions.listForPullRequestReviewComment, { owner, repo, comment_id: c.id, per_page: 100 })
          : await gh.paginate(gh.reactions.listForIssueComment, { owner, repo, comment_id: c.id, per_page: 100 });
        for (const r of reactions) {
          if ((r.content !== '+1' && r.content !== '-1') || !r.user || r.user.type === 'Bot') continue;
          await opts.feedback({ executionId: markedExecution(c.body)!, userId: r.user.login, score: r.content === '+1' ? 1 : -1, channel: 'github' }, envelope);
        }
      }
    } catch (err) {
      opts.logger?.warn({ err, pr: `${owner}/${repo}#${number}` }, 'could not collect reactions as feedback');
    }
  }

  /** What the review reads: the whole pull request, or only what changed since the last reviewed head. */
  async function loadReview(gh: Octokit, ref: GithubReplyRef): Promise<{ text: string; plan: ReviewPlan }> {
    const { data: pr } = await gh.pulls.get({ owner: ref.owner, repo: ref.repo, pull_number: ref.number });
    const headSha = pr.head.sha;
    const baseSha = pr.base.sha;
    // A `/review` comment asks for a full re-review; events review incrementally once a review exists.
    const requested = ref.kind !== 'pull_request';
    const last = requested ? undefined : await opts.memory.lastReviewedHead(`${ref.owner}/${ref.repo}`, ref.number);
    let mode: ReviewPlan['mode'] = 'full';
    let files: ChangedFile[] | undefined;
    if (last === headSha) mode = 'unchanged';
    else if (last) {
      try {
        const since = await compare(gh, ref, `${last}...${headSha}`);
        // Anything but a fast-forward (a force-push rewrote history) is reviewed in full; fingerprints prevent repeats.
        if (since.status === 'ahead') {
          mode = 'incremental';
          files = since.files;
        }
      } catch (err) {
        if (!isStatus(err, 404, 422)) throw err; // the old head is gone after a force-push
      }
    }
    if (mode === 'full') files = (await compare(gh, ref, `${baseSha}...${headSha}`)).files;
    const planned = planReview(files ?? []);
    const plan: ReviewPlan = {
      owner: ref.owner, repo: ref.repo, number: ref.number, headSha, baseSha, mode,
      ...(mode === 'incremental' ? { since: last } : {}),
      reviewed: planned.reviewed, partial: planned.partial, skipped: planned.skipped,
      addedTotal: planned.addedTotal, removedTotal: planned.removedTotal, addedReviewed: planned.addedReviewed,
      truncatedList: (files?.length ?? 0) >= COMPARE_FILE_LIMIT,
      requested,
    };
    return { text: planned.text, plan };
  }

  /**
   * The pull request as a conversation, for `/ask` and `/summarize`: its title, description and changed files first,
   * then its comments (the hub's own as its answers), oldest first, without the comment being answered.
   */
  async function pullRequestHistory(gh: Octokit, ref: GithubReplyRef, comments: { issue: PrComment[]; review: PrComment[] } | undefined): Promise<HistoryMessage[]> {
    const { owner, repo, number } = ref;
    const { data: pr } = await gh.pulls.get({ owner, repo, pull_number: number });
    // The first page names enough files to say what the change touches; the pull request counts them all.
    const { data: files } = await gh.pulls.listFiles({ owner, repo, pull_number: number, per_page: MAX_LISTED });
    const total = Math.max(pr.changed_files ?? 0, files.length);
    const names = files.map((f) => f.filename);
    const more = total > names.length ? ` …and ${total - names.length} more` : '';
    const description = [
      `Pull request #${number}: ${pr.title}`,
      clip(pr.body?.trim() || '(no description)', 4_000),
      `Changed files (${total}): ${names.join(', ')}${more}.`,
    ].join('\n\n');
    const history: HistoryMessage[] = [{ role: 'user', text: description, userId: pr.user?.login ?? null, at: pr.created_at }];
    const thread = ref.kind === 'review_comment' ? (comments?.review ?? []).filter((c) => c.id === ref.threadId || c.in_reply_to_id === ref.threadId) : [];
    const said = [...(comments?.issue ?? []), ...thread]
      .filter((c) => c.id !== ref.commentId && c.body)
      .sort((a, b) => (a.created_at ?? '').localeCompare(b.created_at ?? ''));
    const self = said.some((c) => markedExecution(c.body)) ? await opts.ownLogin() : undefined;
    for (const c of said) {
      // The marker alone does not make a comment ours: anyone can copy it into theirs.
      const ours = markedExecution(c.body) !== undefined && writtenBy(c, self);
      const text = c.body!.replace(/<!-- switchboard:execution=[0-9a-f-]{36} -->/g, '').replace(FEEDBACK_HINT, '').trim();
      history.push({ role: ours ? 'assistant' : 'user', text, userId: ours ? null : (c.user?.login ?? null), at: c.created_at ?? pr.created_at });
    }
    return history;
  }

  /**
   * A vote or `/feedback` in a review thread rates the execution that started the thread, named in its top comment.
   * A bare +1/-1 in a thread a person started is their conversation, not feedback: it is neither recorded nor answered.
   */
  async function threadVote(gh: Octokit, ref: GithubReplyRef, envelope: Envelope): Promise<Prepared> {
    let top: PrComment | undefined;
    try {
      top = (await gh.pulls.getReviewComment({ owner: ref.owner, repo: ref.repo, comment_id: ref.threadId! })).data as PrComment;
    } catch (err) {
      if (!isStatus(err, 404)) throw err; // deleted meanwhile: nothing names the execution
    }
    // A marker in a thread someone else started names nothing: it could name any execution.
    const executionId = top && markedExecution(top.body) && writtenBy(top, await opts.ownLogin()) ? markedExecution(top.body) : undefined;
    if (executionId) return { envelope: { ...envelope, args: { ...envelope.args, executionId } } };
    if (!ref.bareVote) return { envelope }; // `/feedback +1` rates the latest answer in the pull request instead
    // No score: the feedback agent records nothing; `silent`: nothing is posted.
    return { envelope: { ...envelope, args: { ...envelope.args, score: null } }, context: { silent: 'a +1/-1 in a thread the hub did not start' } };
  }

  async function prepare(envelope: Envelope, meta: { executionId: string; agent: string }): Promise<Prepared> {
    const ref = envelope.replyRef as GithubReplyRef;
    const gh = opts.clientFor(ref);
    const threadRated = meta.agent === 'feedback' && ref.kind === 'review_comment' && ref.threadId !== undefined && ref.threadId !== ref.commentId;
    const prepared = threadRated ? await threadVote(gh, ref, envelope) : undefined;
    if (prepared?.context?.silent) return prepared;
    if (meta.agent !== 'feedback') await react(gh, ref, 'eyes');
    const comments = await listComments(gh, ref);
    if (comments) await collectReactionVotes(gh, envelope, ref, comments);
    if (meta.agent === 'review') {
      const { text, plan } = await loadReview(gh, ref);
      return { envelope: { ...envelope, text }, context: { review: plan } };
    }
    if (meta.agent === 'ask' || meta.agent === 'summarize') return { envelope, history: await pullRequestHistory(gh, ref, comments) };
    return prepared ?? { envelope };
  }

  /** Holds the pull request's review lease while `work` runs, so two executions never post the same comment. */
  async function withLease(repoName: string, number: number, executionId: string, work: () => Promise<void>) {
    if (!(await opts.memory.acquireReviewLease(repoName, number, executionId, REVIEW_LEASE_SECONDS))) {
      throw new ReviewInProgressError(`${repoName}#${number}`);
    }
    try {
      await work();
    } finally {
      await opts.memory.releaseReviewLease(repoName, number, executionId);
    }
  }

  async function postReview(gh: Octokit, plan: ReviewPlan, reply: Reply, executionId: string) {
    const { owner, repo, number } = plan;
    const repoName = `${owner}/${repo}`;
    if (plan.mode === 'unchanged') return; // this head was reviewed already: nothing new to say
    await withLease(repoName, number, executionId, async () => {
      // Read again under the lease: another execution may have reviewed this head, or made these comments, meanwhile.
      if (!plan.requested && (await opts.memory.lastReviewedHead(repoName, number)) === plan.headSha) return;
      // A retried delivery after a crash must not post the same review twice.
      const posted = await gh.paginate(gh.pulls.listReviews, { owner, repo, pull_number: number, per_page: 100 });
      if (posted.some((r) => markedExecution(r.body) === executionId)) return;

      // Validate against the pull request's own diff at the reviewed head, as GitHub will.
      const index = indexDiff((await compare(gh, plan, `${plan.baseSha}...${plan.headSha}`)).files);
      const comments = (reply.comments ?? []).map((c) => ({
        c,
        fp: fingerprint(c.path, index.get(c.path)?.right.get(c.line)?.text ?? '', c.body),
        ok: placeable(c, index),
      }));
      const known = await opts.memory.knownFingerprints(repoName, number, comments.map((x) => x.fp));
      const fresh = comments.filter((x) => !known.has(x.fp));
      const record = () => opts.memory.recordReview({ repo: repoName, pr: number, headSha: plan.headSha, fingerprints: fresh.map((x) => x.fp), executionId });
      // A push that adds nothing new to say stays quiet: no review just to say so.
      if (plan.mode === 'incremental' && fresh.length === 0) return record();

      const inline = fresh.filter((x) => x.ok).map((x) => x.c);
      const outside = fresh.filter((x) => !x.ok).map((x) => x.c);
      const repeated = comments.length - fresh.length;
      const marker = executionMarker(executionId);
      const apiComments = inline.map((c) => ({
        path: c.path,
        line: c.line,
        side: c.side ?? 'RIGHT',
        ...(c.startLine !== undefined && c.startLine < c.line ? { start_line: c.startLine, start_side: c.side ?? 'RIGHT' } : {}),
        body: `${clip(c.body, MAX_BODY - 100)}\n\n${marker}`,
      }));
      const review = (body: string, withComments: typeof apiComments) =>
        gh.pulls.createReview({ owner, repo, pull_number: number, commit_id: plan.headSha, event: 'COMMENT', body, comments: withComments });
      try {
        await review(reviewBody(plan, reply, { repeated, outside }, executionId), apiComments);
      } catch (err) {
        if (!isStatus(err, 422)) throw err;
        // GitHub disagreed with our reading of the diff (or the commit left the PR): keep the review, comments in the body.
        opts.logger?.warn({ err, pr: `${repoName}#${number}` }, 'GitHub refused the review (422); posting it with the comments in its body');
        const note = `**GitHub did not accept these as inline comments (${oneLine((err as Error).message.split('\n')[0] ?? '')}), so here they are (${inline.length + outside.length}):**`;
        const body = reviewBody(plan, reply, { repeated, outside: [...inline, ...outside], note }, executionId);
        try {
          await review(body, []);
        } catch (again) {
          if (!isStatus(again, 422)) throw again;
          await gh.issues.createComment({ owner, repo, issue_number: number, body });
        }
      }
      await record();
    });
  }

  async function postComment(gh: Octokit, ref: Pick<GithubReplyRef, 'kind' | 'owner' | 'repo' | 'number' | 'threadId'>, reply: Reply, executionId: string) {
    const listed = capped(reply.comments ?? [], (c) => `- ${location(c)} — ${oneLine(c.body.split('\n')[0] ?? '')}`).join('\n');
    const text = clip([reply.text, listed].filter(Boolean).join('\n\n'), MAX_BODY - 300);
    const body = `${text}${reply.feedback ? `\n\n${FEEDBACK_HINT}` : ''}\n${executionMarker(executionId)}`;
    const { owner, repo, number } = ref;
    if (ref.kind === 'review_comment' && ref.threadId) {
      await gh.pulls.createReplyForReviewComment({ owner, repo, pull_number: number, comment_id: ref.threadId, body });
    } else {
      await gh.issues.createComment({ owner, repo, issue_number: number, body });
    }
  }

  async function reply(envelope: Envelope, answer: Reply, meta: { executionId: string }): Promise<void> {
    if (answer.context?.silent) return; // prepare found nothing to answer (see threadVote)
    const ref = envelope.replyRef as GithubReplyRef;
    const gh = opts.clientFor(ref);
    const plan = answer.context?.review as ReviewPlan | undefined;
    if (plan) await postReview(gh, plan, answer, meta.executionId);
    else await postComment(gh, ref, answer, meta.executionId);
  }

  /** A routing rule's reply, as an issue comment on `owner/repo#number`. */
  async function postTo(target: string, answer: Reply, meta: { executionId: string }): Promise<void> {
    const { owner, repo, number } = parseGithubTarget(target);
    const gh = await opts.clientForRepo(owner, repo);
    await postComment(gh, { kind: 'issue_comment', owner, repo, number }, answer, meta.executionId);
  }

  return { prepare, reply, postTo };
}
