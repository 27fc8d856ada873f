/** What a call cost: list prices per million tokens, overridable with LLM_PRICES. */

/** US dollars per million tokens, keyed by model name, model prefix, or provider name. */
export type PriceTable = Record<string, { inputPerMTok: number; outputPerMTok: number }>;

/**
 * Published list prices when this table was written (USD per million tokens). Dated model ids
 * (`claude-sonnet-4-5-20250929`) match by prefix. Prices change: set LLM_PRICES to correct them or to
 * price a model missing here; a model without a price costs 0 and cost budgets do not see it.
 */
export const DEFAULT_PRICES: PriceTable = {
  'claude-opus-4': { inputPerMTok: 15, outputPerMTok: 75 },
  'claude-opus-4-5': { inputPerMTok: 5, outputPerMTok: 25 },
  'claude-sonnet-4': { inputPerMTok: 3, outputPerMTok: 15 },
  'claude-3-7-sonnet': { inputPerMTok: 3, outputPerMTok: 15 },
  'claude-3-5-sonnet': { inputPerMTok: 3, outputPerMTok: 15 },
  'claude-haiku-4-5': { inputPerMTok: 1, outputPerMTok: 5 },
  'claude-3-5-haiku': { inputPerMTok: 0.8, outputPerMTok: 4 },
  'claude-3-haiku': { inputPerMTok: 0.25, outputPerMTok: 1.25 },
  'gpt-4o': { inputPerMTok: 2.5, outputPerMTok: 10 },
  'gpt-4o-mini': { inputPerMTok: 0.15, outputPerMTok: 0.6 },
  'gpt-4.1': { inputPerMTok: 2, outputPerMTok: 8 },
  'gpt-4.1-mini': { inputPerMTok: 0.4, outputPerMTok: 1.6 },
  'gpt-4.1-nano': { inputPerMTok: 0.1, outputPerMTok: 0.4 },
  'gpt-5': { inputPerMTok: 1.25, outputPerMTok: 10 },
  'gpt-5-mini': { inputPerMTok: 0.25, outputPerMTok: 2 },
  'gpt-5-nano': { inputPerMTok: 0.05, outputPerMTok: 0.4 },
  offline: { inputPerMTok: 0, outputPerMTok: 0 },
};

/** The price of `model`: an exact key, else the longest key it starts with, else the provider's key. */
export function priceFor(prices: PriceTable, provider: string, model: string): PriceTable[string] | undefined {
  const exact = prices[model];
  if (exact) return exact;
  let best: string | undefined;
  for (const key of Object.keys(prices)) {
    if (model.startsWith(key) && (best === undefined || key.length > best.length)) best = key;
  }
  return best === undefined ? prices[provider] : prices[best];
}

/** Cost in US dollars, rounded to the micro-dollar the executions table keeps. */
export function costOf(prices: PriceTable, provider: string, usage: { model: string; inputTokens: number; outputTokens: number }): number {
  const price = priceFor(prices, provider, usage.model);
  if (!price) return 0;
  const usd = (usage.inputTokens * price.inputPerMTok + usage.outputTokens * price.outputPerMTok) / 1_000_000;
  return Math.round(usd * 1_000_000) / 1_000_000;
}
