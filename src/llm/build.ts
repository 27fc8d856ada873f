/** Builds the provider chain from configuration: LLM_PROVIDERS order, keys, base URLs, models, policies, prices. */
import type { Config } from '../config.ts';
import type { LlmChain, LlmProvider, Logger } from '../ports.ts';
import { createChain, type LlmEvent } from './chain.ts';
import { warnDeprecatedOnce } from './deprecations.ts';
import { createOfflineProvider } from './offline.ts';
import { DEFAULT_PRICES } from './prices.ts';

/**
 * The provider names in LLM_PROVIDERS order. `offline` is appended when the list leaves it out, so a user
 * always gets an answer even when every configured provider is down.
 */
export function providerChain(llm: Pick<Config['llm'], 'providers'>): Config['llm']['providers'] {
  return llm.providers.includes('offline') ? llm.providers : [...llm.providers, 'offline' as const];
}

/**
 * The providers in chain order; a deprecated model is reported through `logger` once per process and model.
 * A provider's SDK is imported only when LLM_PROVIDERS names it.
 */
export async function createProviders(llm: Config['llm'], logger?: Logger): Promise<LlmProvider[]> {
  const timeoutMs = llm.timeoutSeconds * 1000;
  return Promise.all(
    providerChain(llm).map(async (name) => {
      switch (name) {
        case 'anthropic': {
          const { model } = llm.anthropic;
          const onSdkWarning = logger && ((text: string) => warnDeprecatedOnce(logger, 'anthropic', model, text));
          const { createAnthropicProvider } = await import('./providers/anthropic.ts');
          return createAnthropicProvider({ apiKey: llm.anthropic.apiKey!, baseUrl: llm.anthropic.baseUrl, model, timeoutMs, onSdkWarning });
        }
        case 'openai': {
          // This SDK warns about nothing at run time; the table it documents is ours to report.
          if (logger) warnDeprecatedOnce(logger, 'openai', llm.openai.model);
          const { createOpenAiProvider } = await import('./providers/openai.ts');
          return createOpenAiProvider({ apiKey: llm.openai.apiKey!, baseUrl: llm.openai.baseUrl, model: llm.openai.model, timeoutMs });
        }
        default: // 'offline'
          return createOfflineProvider();
      }
    }),
  );
}

export async function createLlmChain(llm: Config['llm'], opts: { logger: Logger; deadlineMs?: number; onEvent?: (e: LlmEvent) => void }): Promise<LlmChain> {
  return createChain(await createProviders(llm, opts.logger), {
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
