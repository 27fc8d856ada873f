/** Code review by heuristics: no model, deterministic, line numbers exact in the new file. */
import type { DiffFile, DiffLine } from '../diff.ts';
import { findSecret } from '../secret-scan.ts';
import type { Finding, Severity } from '../types.ts';

export type ReviewRule = 'secret' | 'conflict-marker' | 'debug-leftover' | 'large-addition' | 'missing-tests' | 'todo' | 'long-line';
export type RiskLevel = 'none' | 'low' | 'medium' | 'high';

export type ReviewSummary = {
  filesReviewed: string[];
  skipped: { path: string; reason: string }[];
  /** Every finding, including comments left out by the per-file cap. */
  findingsByRule: Partial<Record<ReviewRule, number>>;
  /** Findings about the change as a whole, with no line to attach to. */
  general: { rule: ReviewRule; body: string }[];
  suppressed: number;
  risk: RiskLevel;
  linesAdded: number;
  linesRemoved: number;
};

export type ReviewReport = { findings: Finding[]; summary: ReviewSummary };

/**
 * Estimated tokens (4 characters each) of diff one review reads: the same budget for the heuristics and the model,
 * so a review's stated coverage is what both read. A pull request's review is planned to fit it; a longer pasted
 * diff is cut to it.
 */
export const REVIEW_TOKEN_BUDGET = 12_000;

const SEVERITY: Record<ReviewRule, Severity> = {
  secret: 'high',
  'conflict-marker': 'high',
  'debug-leftover': 'medium',
  'large-addition': 'medium',
  'missing-tests': 'medium',
  todo: 'low',
  'long-line': 'low',
};
const MAX_LINE = 120;
const MAX_BLOCK = 60;
// Past a handful, more comments of one kind on one file bury the rest of the review.
const MAX_PER_FILE_RULE = 5;

const JS = ['js', 'jsx', 'ts', 'tsx', 'mjs', 'cjs', 'mts', 'cts', 'vue', 'svelte'];
const SOURCE = new Set([...JS, 'py', 'go', 'rb', 'rs', 'java', 'kt', 'php', 'cs', 'swift', 'c', 'cc', 'cpp', 'h', 'hpp', 'scala', 'ex', 'exs']);
const PROSE_OR_DATA = new Set(['md', 'mdx', 'markdown', 'txt', 'rst', 'adoc', 'csv', 'tsv', 'json', 'jsonl', 'svg', 'snap']);
const LOCKFILES = new Set([
  'package-lock.json',
  'npm-shrinkwrap.json',
  'yarn.lock',
  'pnpm-lock.yaml',
  'bun.lockb',
  'bun.lock',
  'Cargo.lock',
  'Gemfile.lock',
  'poetry.lock',
  'Pipfile.lock',
  'uv.lock',
  'composer.lock',
  'go.sum',
  'mix.lock',
  'flake.lock',
  'Podfile.lock',
  'packages.lock.json',
]);
const GENERATED_PATH =
  /(^|\/)(dist|build|vendor|node_modules|__generated__|generated|coverage)\/|\.(pb\.go|g\.dart|designer\.cs)$|_pb2(_grpc)?\.py$|\.generated\.\w+$/;
const GENERATED_MARK = /@generated|Code generated .* DO NOT EDIT|auto-?generated/i;
const TEST_FILE = /(^|\/)(test|tests|__tests__|spec|specs)\/|\.(test|spec)\.\w+$|_test\.(go|py|rb|exs)$|(^|\/)test_[^/]+\.py$|Tests?\.(java|kt|cs|swift)$/;

const DEBUG: { exts: string[]; pattern: RegExp }[] = [
  { exts: JS, pattern: /\bconsole\.(log|debug|trace|dir|table)\s*\(/ },
  { exts: JS, pattern: /^\s*debugger\b\s*;?\s*$/ },
  { exts: ['py'], pattern: /^\s*print\s*\(|\bbreakpoint\(\)|\bi?pdb\.set_trace\(\)|^\s*import i?pdb\b/ },
  { exts: ['go'], pattern: /\bfmt\.Print(ln)?\s*\(|\bspew\.Dump\(/ },
  { exts: ['rb'], pattern: /\bbinding\.(pry|irb)\b|\bbyebug\b/ },
  { exts: ['rs'], pattern: /\bdbg!\s*\(/ },
  { exts: ['php'], pattern: /\b(var_dump|print_r|dd)\s*\(/ },
  { exts: ['java', 'kt'], pattern: /\bSystem\.out\.print(ln)?\s*\(|\.printStackTrace\(\s*\)/ },
];

/** `endLine`, when set, makes the hit a range (`line`–`endLine`, within one hunk). */
type Hit = { rule: ReviewRule; line: number; endLine?: number; title: string; advice: string };

/**
 * Reviews parsed files. Findings are sorted by path, the line a comment anchors to (a range's last) and rule, so the
 * same diff always yields the same review.
 */
export function reviewDiff(files: DiffFile[]): ReviewReport {
  const summary: ReviewSummary = {
    filesReviewed: [],
    skipped: [],
    findingsByRule: {},
    general: [],
    suppressed: 0,
    risk: 'none',
    linesAdded: 0,
    linesRemoved: 0,
  };
  const findings: Finding[] = [];
  const changedSource: string[] = [];
  let testsChanged = false;

  for (const file of files) {
    const lines = file.hunks.flatMap((h) => h.lines);
    summary.linesAdded += lines.filter((l) => l.kind === 'add').length;
    summary.linesRemoved += lines.filter((l) => l.kind === 'del').length;
    const reason = skipReason(file, lines);
    if (reason) {
      summary.skipped.push({ path: file.path, reason });
      continue;
    }
    summary.filesReviewed.push(file.path);
    const isTest = TEST_FILE.test(file.path);
    if (isTest) testsChanged = true;
    else if (isSource(file.path) && lines.some((l) => l.kind !== 'context')) changedSource.push(file.path);

    const perRule = new Map<ReviewRule, number>();
    for (const hit of reviewFile(file, isTest)) {
      summary.findingsByRule[hit.rule] = (summary.findingsByRule[hit.rule] ?? 0) + 1;
      const seen = (perRule.get(hit.rule) ?? 0) + 1;
      perRule.set(hit.rule, seen);
      if (seen > MAX_PER_FILE_RULE) summary.suppressed++;
      else {
        const range = hit.endLine !== undefined && hit.endLine > hit.line ? { endLine: hit.endLine } : {};
        findings.push({ path: file.path, line: hit.line, ...range, severity: SEVERITY[hit.rule], rule: hit.rule, body: `${hit.title}\n\n${hit.advice}` });
      }
    }
  }

  if (changedSource.length > 0 && !testsChanged) {
    summary.findingsByRule['missing-tests'] = 1;
    summary.general.push({
      rule: 'missing-tests',
      body: `Source changed without any test change (${changedSource.join(', ')}). Untested changes are where regressions slip in; add or update a test that exercises the new behaviour, or say why none is needed.`,
    });
  }
  summary.risk = riskOf(Object.keys(summary.findingsByRule) as ReviewRule[]);
  findings.sort((a, b) =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : (a.endLine ?? a.line) - (b.endLine ?? b.line) || (a.rule ?? '').localeCompare(b.rule ?? ''),
  );
  return { findings, summary };
}

function reviewFile(file: DiffFile, isTest: boolean): Hit[] {
  const ext = extension(file.path);
  const findings: Hit[] = [];
  let conflictOpen = false;
  for (const hunk of file.hunks) {
    let run: DiffLine[] = [];
    const endRun = (): void => {
      if (run.length > MAX_BLOCK && isSource(file.path) && !isTest) findings.push(largeBlock(run));
      run = [];
    };
    for (const line of hunk.lines) {
      if (line.kind === 'context') endRun();
      if (line.kind !== 'add' || line.newLine === undefined) continue;
      run.push(line);
      const at = line.newLine;
      const text = line.text;

      if (/^<{7}( |$)/.test(text) || (/^>{7}( |$)/.test(text) && !conflictOpen)) {
        findings.push({
          rule: 'conflict-marker',
          line: at,
          title: 'Merge-conflict marker',
          advice:
            'This file will not compile or parse with conflict markers in it. Resolve the conflict and remove the `<<<<<<<`, `=======` and `>>>>>>>` lines.',
        });
      }
      if (/^<{7}( |$)/.test(text)) conflictOpen = true;
      if (/^>{7}( |$)/.test(text)) conflictOpen = false;

      const secret = findSecret(text, isTest);
      if (secret) {
        findings.push({
          rule: 'secret',
          line: at,
          title: `Possible hard-coded secret: ${secret}`,
          advice:
            'Anything committed stays in the git history even after it is deleted. Rotate this credential now and load it from configuration (an environment variable or a secret manager) instead.',
        });
      }
      const debug = DEBUG.find((d) => d.exts.includes(ext) && d.pattern.test(text));
      if (debug) {
        const call = (debug.pattern.exec(text)?.[0] ?? '').trim();
        findings.push({
          rule: 'debug-leftover',
          line: at,
          title: `Debug leftover: \`${call}\``,
          advice: 'Debug output and breakpoints are noisy in production and can leak data. Remove it, or use the project logger at an appropriate level.',
        });
      }
      const todo = /\b(TODO|FIXME|XXX|HACK)\b/.exec(text);
      // A TODO that links an issue is already tracked somewhere.
      if (todo && !/#\d+|\b[A-Z][A-Z0-9]+-\d+\b|https?:\/\//.test(text)) {
        findings.push({
          rule: 'todo',
          line: at,
          title: `${todo[1]} added`,
          advice:
            'Unfinished work is landing with this change. Finish it here, or open an issue and reference it (for example `TODO(#123)`) so it is not forgotten.',
        });
      }
      const length = [...text.replace(/https?:\/\/\S+/g, '')].length;
      if (length > MAX_LINE && !PROSE_OR_DATA.has(ext)) {
        findings.push({
          rule: 'long-line',
          line: at,
          title: `Line is ${[...text].length} characters long (limit ${MAX_LINE})`,
          advice:
            'Long lines are hard to read in review and in side-by-side diffs. Break it up, for example by extracting a variable or putting arguments on separate lines.',
        });
      }
    }
    endRun();
  }
  return findings;
}

/** The whole block as a range: a run never crosses a hunk (it ends at each hunk's end), as GitHub requires of ranges. */
function largeBlock(run: DiffLine[]): Hit {
  const first = run[0].newLine ?? 0;
  const last = run[run.length - 1].newLine ?? first;
  return {
    rule: 'large-addition',
    line: first,
    endLine: last,
    title: `${run.length} lines added in one block (lines ${first}–${last})`,
    advice: `A block over ${MAX_BLOCK} lines usually means a function doing too much, and it is hard to review. Consider splitting it into smaller functions with names that say what each step does.`,
  };
}

function skipReason(file: DiffFile, lines: DiffLine[]): string | null {
  const name = file.path.slice(file.path.lastIndexOf('/') + 1);
  const added = lines.filter((l) => l.kind === 'add');
  if (file.binary) return 'binary file';
  if (file.status === 'deleted') return 'deleted file';
  if (LOCKFILES.has(name)) return 'lockfile';
  if (/\.min\.(js|mjs|css)$|\.map$/.test(name)) return 'minified';
  if (GENERATED_PATH.test(file.path)) return 'generated';
  if (added.some((l) => (l.newLine ?? Infinity) <= 10 && GENERATED_MARK.test(l.text))) return 'generated (marked in the file)';
  if (added.some((l) => l.text.length > 1000)) return 'minified (lines over 1000 characters)';
  if (file.hunks.length === 0) return 'no content changes';
  return null;
}

function riskOf(rules: ReviewRule[]): RiskLevel {
  const levels: RiskLevel[] = ['none', 'low', 'medium', 'high'];
  return rules.reduce<RiskLevel>((risk, rule) => (levels.indexOf(SEVERITY[rule]) > levels.indexOf(risk) ? SEVERITY[rule] : risk), 'none');
}

function extension(path: string): string {
  const dot = path.lastIndexOf('.');
  return dot > path.lastIndexOf('/') ? path.slice(dot + 1).toLowerCase() : '';
}

function isSource(path: string): boolean {
  return SOURCE.has(extension(path)) && !/\.d\.ts$|\.config\.\w+$/.test(path);
}
