/**
 * What a pull-request review reads and where its findings may go: the diff budget (`planReview`), the lines that can
 * take an inline comment (`indexDiff`, `placeable`) and the fingerprint that keeps a finding from being made twice.
 * Pure functions over the files a code host lists; no platform in sight.
 */
import { createHash } from 'node:crypto';
import { commentableLines, parseDiff } from '../diff.ts';
import type { Finding } from '../types.ts';
import { REVIEW_TOKEN_BUDGET, reviewDiff } from './findings.ts';

/** One file of a comparison, as the code host lists it (`patch` is the unified diff of its hunks, without a header). */
export type ChangedFile = { filename: string; status: string; patch?: string; previous_filename?: string; additions: number; deletions?: number };

/** What one review covered; kept with the reply (`Reply.review`) so delivery posts against the same commits. */
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
  /** The code host listed only the first files of the comparison (GitHub: 300). */
  truncatedList: boolean;
  /** A person asked (`/review`): review even a head reviewed before. Events skip a head another execution reviewed meanwhile. */
  requested: boolean;
};

export type PlannedDiff = { text: string } & Pick<ReviewPlan, 'reviewed' | 'partial' | 'skipped' | 'addedTotal' | 'removedTotal' | 'addedReviewed'>;

// The agent's estimate (src/llm tokens): 4 characters a token, rounded up per piece so the sum never falls short.
const tokens = (text: string) => Math.ceil(text.length / 4);

function fileHeader(f: ChangedFile): string {
  const from = f.status === 'added' ? '/dev/null' : `a/${f.previous_filename ?? f.filename}`;
  return `diff --git a/${f.previous_filename ?? f.filename} b/${f.filename}\n--- ${from}\n+++ b/${f.filename}\n`;
}

/**
 * Splits changed files into per-hunk chunks and keeps them, in order, while they fit `budget` tokens. Deleted files,
 * files the host shows no patch for (binaries, huge files), lockfiles, generated and minified files (the heuristics'
 * own classification) and deletion-only hunks are left out and listed, so the summary can state its coverage.
 */
export function planReview(files: ChangedFile[], budget = REVIEW_TOKEN_BUDGET): PlannedDiff {
  const out = {
    text: '',
    reviewed: [] as string[],
    partial: [] as ReviewPlan['partial'],
    skipped: [] as ReviewPlan['skipped'],
    addedTotal: 0,
    removedTotal: 0,
    addedReviewed: 0,
  };
  let used = 0;
  for (const f of files) {
    out.addedTotal += f.additions;
    out.removedTotal += f.deletions ?? 0;
    if (f.status === 'removed') {
      out.skipped.push({ path: f.filename, reason: 'deleted file' });
      continue;
    }
    if (!f.patch) {
      out.skipped.push({
        path: f.filename,
        reason: f.status === 'renamed' && f.additions === 0 ? 'renamed without changes' : 'no diff from GitHub (binary or too large)',
      });
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

/** Per path, the new-side lines that can take a comment: their text and the hunk they belong to. */
export type DiffIndex = Map<string, Map<number, { text: string; hunk: number }>>;

/** Indexes the pull request's own diff, as the host will validate comments against it. */
export function indexDiff(files: ChangedFile[]): DiffIndex {
  const index: DiffIndex = new Map();
  for (const f of files) {
    const parsed = f.patch ? parseDiff(fileHeader(f) + f.patch)[0] : undefined;
    if (!parsed) continue;
    const commentable = commentableLines(parsed);
    const lines = new Map<number, { text: string; hunk: number }>();
    parsed.hunks.forEach((hunk, h) => {
      for (const line of hunk.lines) {
        if (line.newLine !== undefined && commentable.has(line.newLine)) lines.set(line.newLine, { text: line.text, hunk: h });
      }
    });
    index.set(f.filename, lines);
  }
  return index;
}

/** The finding's fingerprint, taken on the text of its last line (the line a range comment is anchored to). */
export function fingerprintIn(index: DiffIndex, finding: Finding): string {
  return fingerprint(finding.path, index.get(finding.path)?.get(finding.endLine ?? finding.line)?.text ?? '', finding.body);
}

/** Whether the finding can be an inline comment: every line it spans is in one hunk of the diff. */
export function placeable(finding: Finding, index: DiffIndex): boolean {
  const lines = index.get(finding.path);
  const end = lines?.get(finding.endLine ?? finding.line)?.hunk;
  if (end === undefined) return false;
  return finding.endLine === undefined || finding.endLine <= finding.line || lines!.get(finding.line)?.hunk === end;
}
