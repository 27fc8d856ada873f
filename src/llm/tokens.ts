/** Token estimates for budgets and for providers that report none. ~4 characters per token is close enough for English and code. */

const CHARS_PER_TOKEN = 4;

/** Estimated tokens in `text`: 0 only for the empty string. */
export function estimateTokens(text: string): number {
  return text.length === 0 ? 0 : Math.max(1, Math.ceil(text.length / CHARS_PER_TOKEN));
}

/**
 * The most recent items that fit in `budget` tokens, returned in their original order.
 * Walks from the newest item back and stops at the first that does not fit, so context never has gaps.
 */
export function takeRecent<T>(items: readonly T[], budget: number, textOf: (item: T) => string): T[] {
  let used = 0;
  let from = items.length;
  while (from > 0) {
    const cost = estimateTokens(textOf(items[from - 1]));
    if (used + cost > budget) break;
    used += cost;
    from--;
  }
  return items.slice(from);
}

/** Cuts `text` to about `budget` tokens at a line boundary, saying how much was left out. */
export function truncateToTokens(text: string, budget: number): string {
  const limit = budget * CHARS_PER_TOKEN;
  if (text.length <= limit) return text;
  const cut = text.lastIndexOf('\n', limit);
  const kept = text.slice(0, cut > 0 ? cut : limit);
  return `${kept}\n… [truncated: ${text.length - kept.length} more characters]`;
}
