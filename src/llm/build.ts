/** Builds the provider chain from configuration: LLM_PROVIDERS order, keys, base URLs, models, policies, prices. */
import type { Config } from '../config.ts';
import type { LlmChain, LlmProvider, Logger } from '../ports.ts';
import { createChain, type LlmEvent } from './chain.ts';
import { createOfflineProvider } from './offline.ts';
import { DEFAULT_PRICES } from './prices.ts';
import { createAnthropicProvider } from './providers/anthropic.ts';
import { createOpenAiProvider } from './providers/openai.ts';

/**
 * The providers in LLM_PROVIDERS order. `offline` is appended when the list leaves it out, so a user
 * always gets an answer even when every configured provider is down.
 */
export function createProviders(llm: Config['llm']): LlmProvider[] {
  const timeoutMs = llm.timeoutSeconds * 1000;
  const names = llm.providers.includes('offline') ? llm.providers : [...llm.providers, 'offline' as const];
  return names.map((name) => {
    switch (name) {
      case 'anthropic':
        return createAnthropicProvider({ apiKey: llm.anthropic.apiKey!, baseUrl: llm.anthropic.baseUrl, model: llm.anthropic.model, timeoutMs });
      case 'openai':
        return createOpenAiProvider({ apiKey: llm.openai.apiKey!, baseUrl: llm.openai.baseUrl, model: llm.openai.model, timeoutMs });
      case 'offline':
        return createOfflineProvider();
    }
  });
}

export function createLlmChain(llm: Config['llm'], opts: { logger: Logger; deadlineMs?: number; onEvent?: (e: LlmEvent) => void }): LlmChain {
  return createChain(createProviders(llm), {
    logger: opts.logger,
    prices: { ...DEFAULT_PRICES, ...llm.prices },
    resilience: {
      timeoutMs: llm.timeoutSeconds * 1000,
      maxRetries: llm.maxRetries,
      breakerThreshold: llm.breaker.threshold,
      cooldownMs: llm.breaker.cooldownSeconds * 1000,
    },
    deadlineMs: opts.deadlineMs,
    onEvent: opts.onEvent,
  });
}
