/** Language models: providers, the fallback chain, prompts and token budgets. */
export { createChain, LlmChainError } from './chain.ts';
export type { ChainOptions, PriceTable } from './chain.ts';
export { createOfflineProvider, OFFLINE_MODEL, OFFLINE_NOTICE } from './offline.ts';
export type { AskMaterial, ReviewMaterial, SummarizeMaterial } from './offline.ts';
export { PROMPTS, promptHash, wrapUntrusted } from './prompts.ts';
export type { Prompt, PromptAgent } from './prompts.ts';
export { estimateTokens, takeRecent, truncateToTokens } from './tokens.ts';
