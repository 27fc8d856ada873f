/**
 * The worker side of GitHub: loads a pull request's diff before the review agent runs (`prepare`), then posts the
 * answer where it was asked for (`reply`): a review with inline comments, an issue comment, or a thread reply.
 */
import type { Octokit } from '@octokit/rest';
import { createHash } from 'node:crypto';
import { commentableLines, parseDiff } from '../../src/diff.ts';
import type { FeedbackRecorder, Logger, Prepared, ReviewMemory } from '../../src/ports.ts';
import { reviewDiff } from '../../src/review.ts';
import type { Envelope, Reply, ReviewComment } from '../../src/types.ts';
import { executionMarker, markedExecution, type GithubReplyRef } from './normalize.ts';

/** About 96 KB of diff: room for a large PR, and the heuristics are cheap; the agent trims further for a model. */
export const DEFAULT_DIFF_TOKEN_BUDGET = 24_000;
// GitHub refuses review and comment bodies over 65,536 characters.
const MAX_BODY = 65_000;
// A comparison lists at most 300 files; beyond that GitHub leaves files out.
const COMPARE_FILE_LIMIT = 300;

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
};

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
export function planReview(files: ChangedFile[], budget: number): { text: string } & Pick<ReviewPlan, 'reviewed' | 'partial' | 'skipped' | 'addedTotal' | 'removedTotal' | 'addedReviewed'> {
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
    for (const hunk of withAdditions) {
      const body = hunk.endsWith('\n') ? hunk : `${hunk}\n`;
      if (left > 0 || used + tokens(body) > budget) {
        left++;
        continue;
      }
      used += tokens(body);
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
const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 40)}\n\n… (cut to fit GitHub's limit)` : text);
const FEEDBACK_HINT = '<sub>Was this useful? React 👍 or 👎, or reply `/feedback +1` or `/feedback -1`.</sub>';

function coverage(plan: ReviewPlan): string[] {
  const lines: string[] = [];
  const considered = plan.reviewed.length + plan.skipped.filter((s) => !plan.reviewed.includes(s.path)).length;
  lines.push(`**Changed${plan.mode === 'incremental' ? ' since the last review' : ''}:** ${considered} file${considered === 1 ? '' : 's'}, +${plan.addedTotal} −${plan.removedTotal} lines.`);
  lines.push(
    `**Coverage:** ${plan.reviewed.length} of ${considered} changed file${considered === 1 ? '' : 's'} reviewed` +
      `${plan.partial.length ? ` (${plan.partial.length} partially)` : ''}, ${plan.addedReviewed} of ${plan.addedTotal} added lines.` +
      (plan.mode === 'incremental' ? ` Only changes since ${plan.since!.slice(0, 7)} (the last reviewed commit) were read.` : ''),
  );
  if (plan.truncatedList) lines.push(`GitHub lists at most ${COMPARE_FILE_LIMIT} files in a comparison; files past that were not reviewed.`);
  for (const p of plan.partial) lines.push(`- \`${p.path}\`: ${p.hunksLeft} hunk${p.hunksLeft === 1 ? '' : 's'} left out (over the review budget)`);
  if (plan.skipped.length) {
    lines.push('', `**Skipped (${plan.skipped.length}):**`);
    for (const s of plan.skipped) lines.push(`- \`${s.path}\` — ${s.reason}`);
  }
  return lines;
}

/** The review body: what the agent said (without its chat-style list of inline comments), coverage, leftovers. */
function reviewBody(plan: ReviewPlan, reply: Reply, parts: { repeated: number; outside: ReviewComment[]; note?: string }, executionId: string): string {
  const listed = `\n\nInline comments (${reply.comments?.length ?? 0}):\n`;
  const cut = reply.comments?.length ? reply.text.lastIndexOf(listed) : -1;
  const said = reply.data?.summary ? (cut >= 0 ? reply.text.slice(0, cut) : reply.text) : 'No reviewable changes: every changed file was skipped (see below).';
  const tail = [...coverage(plan)];
  if (parts.repeated) tail.push('', `${parts.repeated} finding${parts.repeated === 1 ? ' was' : 's were'} already raised on an earlier push and ${parts.repeated === 1 ? 'is' : 'are'} not repeated.`);
  if (parts.outside.length) {
    tail.push('', parts.note ?? `**Comments on lines outside the diff (${parts.outside.length}):**`);
    for (const c of parts.outside) tail.push(`- ${location(c)} — ${c.body.replace(/\n+/g, ' ')}`);
  }
  const head = `### Switchboard review${plan.mode === 'incremental' ? ' (new changes)' : ''}\n\n`;
  const end = `\n\n---\n${tail.join('\n')}\n\n${FEEDBACK_HINT}\n${executionMarker(executionId)}`;
  return head + clip(said.trim(), MAX_BODY - head.length - end.length) + end;
}

export type ReplierOptions = {
  clientFor(ref: GithubReplyRef): Octokit;
  memory: ReviewMemory;
  feedback: FeedbackRecorder;
  logger?: Logger;
  diffTokenBudget?: number;
};

const isStatus = (err: unknown, ...statuses: number[]) => statuses.includes((err as { status?: number })?.status ?? 0);

export function createGithubReplier(opts: ReplierOptions) {
  const budget = opts.diffTokenBudget ?? DEFAULT_DIFF_TOKEN_BUDGET;

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

  /**
   * GitHub sends no event for reactions, so 👍/👎 on the hub's comments are collected whenever the pull request
   * is worked on, and recorded on the execution each comment names. Votes are upserts, so counting again is harmless.
   */
  async function collectReactionVotes(gh: Octokit, ref: GithubReplyRef) {
    const { owner, repo, number } = ref;
    try {
      const [issueComments, reviewComments] = await Promise.all([
        gh.paginate(gh.issues.listComments, { owner, repo, issue_number: number, per_page: 100 }),
        gh.paginate(gh.pulls.listReviewComments, { owner, repo, pull_number: number, per_page: 100 }),
      ]);
      const voted = [...issueComments.map((c) => ({ c, review: false })), ...reviewComments.map((c) => ({ c, review: true }))].filter(
        ({ c }) => markedExecution(c.body) && ((c.reactions?.['+1'] ?? 0) > 0 || (c.reactions?.['-1'] ?? 0) > 0),
      );
      for (const { c, review } of voted) {
        const reactions = review
          ? await gh.paginate(gh.reactions.listForPullRequestReviewComment, { owner, repo, comment_id: c.id, per_page: 100 })
          : await gh.paginate(gh.reactions.listForIssueComment, { owner, repo, comment_id: c.id, per_page: 100 });
        for (const r of reactions) {
          if ((r.content !== '+1' && r.content !== '-1') || !r.user || r.user.type === 'Bot') continue;
          await opts.feedback({ executionId: markedExecution(c.body)!, userId: r.user.login, score: r.content === '+1' ? 1 : -1, channel: 'github' });
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
    const last = ref.kind === 'pull_request' ? await opts.memory.lastReviewedHead(`${ref.owner}/${ref.repo}`, ref.number) : undefined;
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
    const planned = planReview(files ?? [], budget);
    const plan: ReviewPlan = {
      owner: ref.owner, repo: ref.repo, number: ref.number, headSha, baseSha, mode,
      ...(mode === 'incremental' ? { since: last } : {}),
      reviewed: planned.reviewed, partial: planned.partial, skipped: planned.skipped,
      addedTotal: planned.addedTotal, removedTotal: planned.removedTotal, addedReviewed: planned.addedReviewed,
      truncatedList: (files?.length ?? 0) >= COMPARE_FILE_LIMIT,
    };
    return { text: planned.text, plan };
  }

  async function prepare(envelope: Envelope, meta: { executionId: string; agent: string }): Promise<Prepared> {
    const ref = envelope.replyRef as GithubReplyRef;
    const gh = opts.clientFor(ref);
    if (meta.agent !== 'feedback') await react(gh, ref, 'eyes');
    await collectReactionVotes(gh, ref);
    if (meta.agent !== 'review') return { envelope };
    const { text, plan } = await loadReview(gh, ref);
    return { envelope: { ...envelope, text }, context: { review: plan } };
  }

  async function postReview(gh: Octokit, plan: ReviewPlan, reply: Reply, executionId: string) {
    const { owner, repo, number } = plan;
    const repoName = `${owner}/${repo}`;
    if (plan.mode === 'unchanged') return; // this head was reviewed already: nothing new to say
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
      const note = `**GitHub did not accept these as inline comments (${(err as Error).message.split('\n')[0]}), so here they are:**`;
      const body = reviewBody(plan, reply, { repeated, outside: [...inline, ...outside], note }, executionId);
      try {
        await review(body, []);
      } catch (again) {
        if (!isStatus(again, 422)) throw again;
        await gh.issues.createComment({ owner, repo, issue_number: number, body });
      }
    }
    await record();
  }

  async function postComment(gh: Octokit, ref: GithubReplyRef, reply: Reply, executionId: string) {
    const listed = (reply.comments ?? []).map((c) => `- ${location(c)} — ${c.body.split('\n')[0]}`).join('\n');
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
    const ref = envelope.replyRef as GithubReplyRef;
    const gh = opts.clientFor(ref);
    const plan = answer.context?.review as ReviewPlan | undefined;
    if (plan) await postReview(gh, plan, answer, meta.executionId);
    else await postComment(gh, ref, answer, meta.executionId);
  }

  return { prepare, reply };
}
