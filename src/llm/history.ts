/** Fits a conversation into a token budget: the most recent turns verbatim, older ones as a short summary. */
import type { HistoryMessage } from '../types.ts';
import { extractSummary } from './extractive.ts';
import { takeRecent, truncateToTokens } from './tokens.ts';

/** Share of the budget kept for the summary of older turns when not everything fits. */
const SUMMARY_SHARE = 0.2;

export type FittedHistory = {
  /** The newest messages that fit, in their original order. */
  recent: HistoryMessage[];
  /** How many older messages were left out of `recent`. */
  earlierCount: number;
  /** An extractive summary of those older messages, when there are any. */
  earlierSummary?: string;
};

/**
 * Everything, when it fits in `budget` tokens. Otherwise the most recent messages that fit in 80 % of
 * it, plus an extractive summary (the sentences the conversation kept returning to) of the rest.
 */
export function fitHistory(history: HistoryMessage[], budget: number, lineOf: (m: HistoryMessage) => string): FittedHistory {
  if (takeRecent(history, budget, lineOf).length === history.length) return { recent: history, earlierCount: 0 };
  const summaryBudget = Math.floor(budget * SUMMARY_SHARE);
  const recent = takeRecent(history, budget - summaryBudget, lineOf);
  const earlier = history.slice(0, history.length - recent.length);
  const { sentences, topWords } = extractSummary(
    earlier.filter((m) => m.role === 'user'),
    8,
  );
  const lines = sentences.map((s) => `• ${s.userId ?? 'someone'}: ${clip(s.text, 200)}`);
  if (topWords.length > 0) lines.push(`Topics: ${topWords.join(', ')}.`);
  const earlierSummary = lines.length > 0 ? truncateToTokens(lines.join('\n'), summaryBudget) : undefined;
  return earlierSummary ? { recent, earlierCount: earlier.length, earlierSummary } : { recent, earlierCount: earlier.length };
}

function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
