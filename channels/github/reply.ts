/**
 * The worker side of GitHub: loads what an answer needs before the agent runs (`prepare`: the pull request to review,
 * or the pull request itself as the conversation, and the votes its reactions cast), then posts the answer where it
 * was asked for (`reply`): the review the core decided, an issue comment, or a thread reply; and posts routed replies
 * to `owner/repo#number` (`postTo`).
 */
import type { Octokit } from '@octokit/rest';
import { RetryLaterError, type Logger, type Prepared } from '../../src/ports.ts';
import {
  deliverReview,
  type ChangedFile,
  type Comparison,
  type PullRequest,
  type ReviewDecision,
  type ReviewMemory,
  type ReviewPlan,
  type ReviewSummary,
} from '../../src/review/index.ts';
import type { Envelope, Finding, HistoryMessage, Reply } from '../../src/types.ts';
import { executionMarker, markedExecution, type GithubReplyRef } from './normalize.ts';

// GitHub refuses review and comment bodies over 65,536 characters; the rest is headroom for what GitHub adds.
const MAX_BODY = 65_000;
// A comparison lists at most 300 files; beyond that GitHub leaves files out.
const COMPARE_FILE_LIMIT = 300;
// Longer lists in a review body ("…and N more") help nobody and could push the body past GitHub's limit.
const MAX_LISTED = 50;
const MAX_LISTED_CHARS = 300;

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

const location = (f: Finding) => `\`${f.path}:${f.line}${f.endLine && f.endLine > f.line ? `-${f.endLine}` : ''}\``;
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
  lines.push(
    `**Changed${plan.mode === 'incremental' ? ' since the last review' : ''}:** ${plural(considered, 'file')}, +${plan.addedTotal} −${plan.removedTotal} lines.`,
  );
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
 * The review body, never over GitHub's limit: what the agent said, then the fixed tail (risk, coverage, files,
 * findings without a line, leftovers), the feedback hint and the marker. Inline findings are the review's comments.
 */
export function reviewBody(plan: ReviewPlan, reply: Reply, parts: { repeated: number; outside: Finding[]; note?: string }, executionId: string): string {
  const summary = reply.data?.summary as ReviewSummary | undefined;
  const said = summary ? reply.text : 'No reviewable changes: every changed file was skipped (see below).';
  const tail = coverage(plan, summary, readers(reply));
  if (parts.repeated)
    tail.push(
      '',
      `${parts.repeated} finding${parts.repeated === 1 ? ' was' : 's were'} already raised on an earlier push and ${parts.repeated === 1 ? 'is' : 'are'} not repeated.`,
    );
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
  /** What code review remembers per pull request: the core's review lease and fingerprints use it. */
  memory: ReviewMemory;
  /** The login of the hub's own comments; undefined while GitHub will not say. Only those comments can be rated. */
  ownLogin(): Promise<string | undefined>;
  logger?: Logger;
};

type PrComment = {
  id: number;
  body?: string | null;
  created_at?: string;
  user?: { login: string; type?: string } | null;
  in_reply_to_id?: number;
  reactions?: { '+1'?: number; '-1'?: number };
};

/** Whether `login` (the hub's own) wrote the comment; never when the hub's login is unknown. */
const writtenBy = (c: PrComment, login: string | undefined) => login !== undefined && c.user?.login?.toLowerCase() === login.toLowerCase();

const isStatus = (err: unknown, ...statuses: number[]) => statuses.includes((err as { status?: number })?.status ?? 0);

export function createGithubReplier(opts: ReplierOptions) {
  async function compare(gh: Octokit, ref: { owner: string; repo: string }, basehead: string): Promise<Comparison> {
    const { data } = await gh.repos.compareCommitsWithBasehead({ owner: ref.owner, repo: ref.repo, basehead });
    const files = (data.files ?? []) as ChangedFile[];
    return { ahead: data.status === 'ahead', files, truncated: files.length >= COMPARE_FILE_LIMIT };
  }

  /** Best effort: a missing permission for reactions must not cost the review. */
  async function react(gh: Octokit, ref: GithubReplyRef, content: 'eyes') {
    const { owner, repo } = ref;
    try {
      if (ref.kind === 'issue_comment' && ref.commentId) await gh.reactions.createForIssueComment({ owner, repo, comment_id: ref.commentId, content });
      else if (ref.kind === 'review_comment' && ref.commentId)
        await gh.reactions.createForPullRequestReviewComment({ owner, repo, comment_id: ref.commentId, content });
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
   * is worked on, as votes on the execution each comment names. Votes are upserts, so counting again is harmless.
   */
  async function reactionVotes(
    gh: Octokit,
    ref: GithubReplyRef,
    comments: { issue: PrComment[]; review: PrComment[] },
  ): Promise<NonNullable<Prepared['votes']>> {
    const { owner, repo, number } = ref;
    const votes: NonNullable<Prepared['votes']> = [];
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
          votes.push({ executionId: markedExecution(c.body)!, userId: r.user.login, score: r.content === '+1' ? 1 : -1 });
        }
      }
    } catch (err) {
      opts.logger?.warn({ err, pr: `${owner}/${repo}#${number}` }, 'could not collect reactions as feedback');
    }
    return votes;
  }

  /** The pull request to review, as the core asks about it: its head and base, and comparisons between commits. */
  async function pullRequest(gh: Octokit, ref: GithubReplyRef): Promise<PullRequest> {
    const { data: pr } = await gh.pulls.get({ owner: ref.owner, repo: ref.repo, pull_number: ref.number });
    return {
      owner: ref.owner,
      repo: ref.repo,
      number: ref.number,
      headSha: pr.head.sha,
      baseSha: pr.base.sha,
      // A `/review` comment is a person asking; a pull-request event is not.
      requested: ref.kind !== 'pull_request',
      async compare(base, head) {
        try {
          return await compare(gh, ref, `${base}...${head}`);
        } catch (err) {
          if (!isStatus(err, 404, 422)) throw err; // the old head is gone after a force-push
          return undefined;
        }
      },
    };
  }

  /**
   * The pull request as a conversation, for `/ask` and `/summarize`: its title, description and changed files first,
   * then its comments (the hub's own as its answers), oldest first, without the comment being answered.
   */
  async function pullRequestHistory(
    gh: Octokit,
    ref: GithubReplyRef,
    comments: { issue: PrComment[]; review: PrComment[] } | undefined,
  ): Promise<HistoryMessage[]> {
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
      const text = c
        .body!.replace(/<!-- switchboard:execution=[0-9a-f-]{36} -->/g, '')
        .replace(FEEDBACK_HINT, '')
        .trim();
      history.push({ role: ours ? 'assistant' : 'user', text, userId: ours ? null : (c.user?.login ?? null), at: c.created_at ?? pr.created_at });
    }
    return history;
  }

  /**
   * A vote or `/feedback` in a review thread rates the execution that started the thread, named in its top comment.
   * A bare +1/-1 in a thread a person started is their conversation, not feedback: it is neither recorded nor answered.
   */
  async function threadVote(gh: Octokit, ref: GithubReplyRef, envelope: Envelope): Promise<Prepared & { conversation?: true }> {
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
    // No score: the +1 rates no answer of ours; the core records nothing and withholds the reply (Reply.withheld).
    return { envelope: { ...envelope, args: { ...envelope.args, score: null } }, conversation: true };
  }

  async function prepare(envelope: Envelope, meta: { executionId: string; agent: string }): Promise<Prepared> {
    const ref = envelope.replyRef as GithubReplyRef;
    const gh = opts.clientFor(ref);
    const threadRated = meta.agent === 'feedback' && ref.kind === 'review_comment' && ref.threadId !== undefined && ref.threadId !== ref.commentId;
    const prepared = threadRated ? await threadVote(gh, ref, envelope) : undefined;
    if (prepared?.conversation) return { envelope: prepared.envelope }; // not a vote: nothing else to load
    if (meta.agent !== 'feedback') await react(gh, ref, 'eyes');
    const comments = await listComments(gh, ref);
    const votes = comments ? await reactionVotes(gh, ref, comments) : [];
    if (meta.agent === 'review') return { envelope, pullRequest: await pullRequest(gh, ref), votes };
    if (meta.agent === 'ask' || meta.agent === 'summarize') return { envelope, history: await pullRequestHistory(gh, ref, comments), votes };
    return { ...(prepared ?? { envelope }), votes };
  }

  /** Posts what the core decided as one GitHub review: inline comments where GitHub takes them, the rest in its body. */
  async function postReview(gh: Octokit, plan: ReviewPlan, reply: Reply, executionId: string, { inline, outside, repeated }: ReviewDecision) {
    const { owner, repo, number } = plan;
    const marker = executionMarker(executionId);
    const apiComments = inline.map((f) => ({
      path: f.path,
      line: f.endLine ?? f.line,
      side: 'RIGHT' as const,
      ...(f.endLine !== undefined && f.endLine > f.line ? { start_line: f.line, start_side: 'RIGHT' as const } : {}),
      body: `${clip(f.body, MAX_BODY - 100)}\n\n${marker}`,
    }));
    const review = (body: string, withComments: typeof apiComments) =>
      gh.pulls.createReview({ owner, repo, pull_number: number, commit_id: plan.headSha, event: 'COMMENT', body, comments: withComments });
    try {
      await review(reviewBody(plan, reply, { repeated, outside }, executionId), apiComments);
    } catch (err) {
      if (!isStatus(err, 422)) throw err;
      // GitHub disagreed with our reading of the diff (or the commit left the PR): keep the review, comments in the body.
      opts.logger?.warn({ err, pr: `${owner}/${repo}#${number}` }, 'GitHub refused the review (422); posting it with the comments in its body');
      const note = `**GitHub did not accept these as inline comments (${oneLine((err as Error).message.split('\n')[0] ?? '')}), so here they are (${inline.length + outside.length}):**`;
      const body = reviewBody(plan, reply, { repeated, outside: [...inline, ...outside], note }, executionId);
      try {
        await review(body, []);
      } catch (again) {
        if (!isStatus(again, 422)) throw again;
        await gh.issues.createComment({ owner, repo, issue_number: number, body });
      }
    }
  }

  /** The review the core planned, posted as it decides (under the pull request's review lease, without repeats). */
  async function deliver(gh: Octokit, plan: ReviewPlan, reply: Reply, executionId: string) {
    const { owner, repo, number } = plan;
    await deliverReview(opts.memory, plan, reply.findings ?? [], executionId, {
      async posted() {
        const reviews = await gh.paginate(gh.pulls.listReviews, { owner, repo, pull_number: number, per_page: 100 });
        return reviews.some((r) => markedExecution(r.body) === executionId);
      },
      diff: async () => (await compare(gh, plan, `${plan.baseSha}...${plan.headSha}`)).files,
      post: (decision) => postReview(gh, plan, reply, executionId, decision),
    });
  }

  async function postComment(gh: Octokit, ref: Pick<GithubReplyRef, 'kind' | 'owner' | 'repo' | 'number' | 'threadId'>, reply: Reply, executionId: string) {
    const listed = capped(reply.findings ?? [], (f) => `- ${location(f)} — ${oneLine(f.body.split('\n')[0] ?? '')}`).join('\n');
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
    if (answer.review) await deliver(gh, answer.review, answer, meta.executionId);
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
