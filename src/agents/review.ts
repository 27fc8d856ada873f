/** `review`: heuristic review of a unified diff, summarized by the model chain. */
import { parseDiff } from '../diff.ts';
import { PROMPTS, truncateToTokens, wrapUntrusted } from '../llm/index.ts';
import type { ReviewMaterial } from '../llm/index.ts';
import type { Agent } from '../ports.ts';
import { findingLine, REVIEW_TOKEN_BUDGET, reviewDiff } from '../review/index.ts';

const USAGE =
  'I could not find a diff to review. Paste a unified diff (for example the output of `git diff`), ' +
  'or send `/review` followed by the diff. On GitHub, open a pull request or comment `/review` on one.';

export const reviewAgent: Agent = {
  name: 'review',
  description: 'Reviews a diff with heuristics and inline comments.',
  usesLlm: true,
  async run(ctx) {
    const diff = typeof ctx.intent.args.diff === 'string' ? ctx.intent.args.diff : ctx.envelope.text;
    // One budget for heuristics and model, so what the review says it read is what both read.
    const read = truncateToTokens(diff, REVIEW_TOKEN_BUDGET);
    const cut = read !== diff;
    const files = parseDiff(cut ? read.slice(0, read.lastIndexOf('\n… [truncated')) : diff);
    if (files.length === 0) return { text: USAGE, feedback: false };

    const { findings, summary } = reviewDiff(files);
    const listed = findings.map(findingLine);
    const offline: ReviewMaterial = { summary };
    const result = await ctx.llm.complete({
      agent: 'review',
      system: PROMPTS.review.text,
      promptVersion: PROMPTS.review.version,
      messages: [
        {
          role: 'user',
          content:
            `Heuristic findings:\n${wrapUntrusted('findings', [...listed, ...summary.general.map((g) => g.body)].join('\n') || 'none')}\n\n` +
            `Diff:\n${wrapUntrusted('diff', read)}`,
        },
      ],
      maxTokens: 1200,
      offline,
    });

    let text = result.text;
    if (cut) {
      text += `\n\nThis diff is longer than one review reads (about ${REVIEW_TOKEN_BUDGET.toLocaleString('en-US')} tokens): only its first ${Math.round((read.length / diff.length) * 100)}% was reviewed.`;
    }
    // The findings travel beside the text, never in it: each channel lists or places them once, its own way.
    return { text, findings, feedback: true, usage: result.usage, data: { summary } };
  },
};
