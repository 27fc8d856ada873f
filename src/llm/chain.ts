/** The provider fallback chain: first provider that answers wins; usage and cost are recorded either way. */
import type { LlmChain, LlmProvider, LlmRequest, LlmResult, Logger, ProviderHealth } from '../ports.ts';
import type { Usage } from '../types.ts';
import { promptHash } from './prompts.ts';

/** US dollars per million tokens, keyed by model name or, as a fallback, by provider name. */
export type PriceTable = Record<string, { inputPerMTok: number; outputPerMTok: number }>;

export type ChainOptions = { logger: Logger; prices?: PriceTable };

/** Raised when every provider in the chain failed; `errors` says why each one did. */
export class LlmChainError extends Error {
  readonly errors: { provider: string; message: string }[];
  constructor(errors: { provider: string; message: string }[]) {
    super(`every LLM provider failed: ${errors.map((e) => `${e.provider}: ${e.message}`).join('; ')}`);
    this.name = 'LlmChainError';
    this.errors = errors;
  }
}

/**
 * Tries `providers` in order and falls back to the next on error. Put `offline` last so the chain
 * always answers. Health reports the last error of a provider whose latest call failed.
 */
export function createChain(providers: LlmProvider[], opts: ChainOptions): LlmChain {
  const { logger, prices = {} } = opts;
  const lastError = new Map<string, string>();

  async function complete(request: LlmRequest): Promise<LlmResult & { usage: Usage }> {
    const hash = promptHash(request.system, request.messages);
    const errors: { provider: string; message: string }[] = [];
    for (const provider of providers) {
      try {
        const result = await provider.complete(request);
        lastError.delete(provider.name);
        const usage: Usage = {
          provider: provider.name,
          model: result.model,
          inputTokens: result.inputTokens,
          outputTokens: result.outputTokens,
          costUsd: costOf(prices, provider.name, result),
          promptHash: hash,
        };
        return { ...result, usage };
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        lastError.set(provider.name, message);
        errors.push({ provider: provider.name, message });
        logger.warn({ provider: provider.name, agent: request.agent, err: message }, 'LLM provider failed; trying the next one');
      }
    }
    throw new LlmChainError(errors);
  }

  function health(): ProviderHealth[] {
    return providers.map((p) => {
      const error = lastError.get(p.name);
      return error === undefined ? { name: p.name, state: 'closed' } : { name: p.name, state: 'closed', lastError: error };
    });
  }

  return { complete, health };
}

function costOf(prices: PriceTable, provider: string, result: LlmResult): number {
  const price = prices[result.model] ?? prices[provider];
  if (!price) return 0;
  return (result.inputTokens * price.inputPerMTok + result.outputTokens * price.outputPerMTok) / 1_000_000;
}
