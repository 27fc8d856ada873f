/**
 * The provider fallback chain: each provider runs under its own resilience policies (timeout, retry,
 * circuit breaker); the first that answers wins. The offline provider answers last, saying why, so a
 * user always gets an answer. Usage, cost, latency and the fallbacks tried come back with the text.
 */
import type {
  LlmChain,
  LlmChainOptions,
  LlmDelta,
  LlmProvider,
  LlmRequest,
  LlmResult,
  LlmTrace,
  LlmUsage,
  Logger,
  OfflineReason,
  ProviderHealth,
} from '../ports.ts';
import { ProviderError, describeError } from './errors.ts';
import { DEFAULT_PRICES, costOf, type PriceTable } from './prices.ts';
import { promptHash } from './prompts.ts';
import { createResilience, type ResilienceEvent, type ResilienceOptions, type Resilient } from './resilience.ts';

/** What the chain reports per provider call, for metrics. */
export type LlmEvent =
  | ResilienceEvent
  | {
      type: 'call';
      provider: string;
      outcome: 'success' | 'failure' | 'skipped';
      ms: number;
      inputTokens?: number;
      outputTokens?: number;
      costUsd?: number;
      /** Why a call failed or was skipped: the ProviderError kind (rate_limited, timeout, circuit_open …). */
      errorKind?: string;
    };

export type ChainOptions = {
  logger: Logger;
  /** Defaults to DEFAULT_PRICES. */
  prices?: PriceTable;
  /** Applied to every provider but offline. */
  resilience?: Partial<ResilienceOptions>;
  /** The most one answer may take across all providers; then the rest are skipped and offline answers. */
  deadlineMs?: number;
  now?: () => number;
  onEvent?: (event: LlmEvent) => void;
};

/** Raised when every provider in the chain failed (only possible without `offline` in it). */
export class LlmChainError extends Error {
  readonly errors: { provider: string; message: string }[];
  constructor(errors: { provider: string; message: string }[]) {
    super(`every LLM provider failed: ${errors.map((e) => `${e.provider}: ${e.message}`).join('; ')}`);
    this.name = 'LlmChainError';
    this.errors = errors;
  }
}

const OFFLINE = 'offline';
const NO_SIGNAL = new AbortController().signal;

type Entry = { provider: LlmProvider; policy: Resilient };

/** Tries `providers` in order. Put `offline` last so the chain always answers. */
export function createChain(providers: LlmProvider[], opts: ChainOptions): LlmChain {
  const { logger, prices = DEFAULT_PRICES, now = Date.now } = opts;
  const emit = opts.onEvent ?? (() => {});
  const onResilience = (e: ResilienceEvent) => {
    emit(e);
    if (e.type === 'breaker' && e.state === 'open')
      logger.warn({ provider: e.provider, err: e.error }, 'LLM provider circuit opened: skipping it until a probe succeeds');
    if (e.type === 'breaker' && e.state === 'closed') logger.info({ provider: e.provider }, 'LLM provider recovered: circuit closed');
  };
  const entries: Entry[] = providers.map((provider) => ({
    provider,
    // Offline cannot fail or hang; policies would only add overhead.
    policy: createResilience(provider.name, provider.name === OFFLINE ? { timeoutMs: 60_000, maxRetries: 0 } : { ...opts.resilience, now }, onResilience),
  }));

  async function call(
    entry: Entry,
    request: LlmRequest,
    signal: AbortSignal,
    offlineReason: OfflineReason,
    onDelta?: (d: LlmDelta) => void,
  ): Promise<LlmResult> {
    const { provider } = entry;
    const callOptions = provider.name === OFFLINE ? { offlineReason } : {};
    // A provider that cannot stream (offline answers at once) just answers; the final reply shows it whole.
    if (!onDelta || !provider.stream) return entry.policy.execute((s) => provider.complete(request, { ...callOptions, signal: s }), signal);
    const emit = (text: string, delta: string) => {
      try {
        onDelta({ provider: provider.name, delta, text });
      } catch (err) {
        logger.debug({ err }, 'a stream listener failed; the answer goes on');
      }
    };
    const stream = provider.stream.bind(provider);
    return entry.policy.execute(
      (s, progress) => {
        // Each attempt starts the text over: a retry or fallback replaces what was shown, it does not append.
        let text = '';
        return stream(
          request,
          (delta) => {
            progress();
            text += delta;
            emit(text, delta);
          },
          { ...callOptions, signal: s },
        );
      },
      signal,
      { streaming: true },
    );
  }

  async function run(request: LlmRequest, options: LlmChainOptions, onDelta?: (d: LlmDelta) => void): Promise<LlmResult & { usage: LlmUsage }> {
    const started = now();
    const hash = promptHash(request.system, request.messages);
    const fallbacks: { provider: string; error: string }[] = [];
    const deadline = opts.deadlineMs ? AbortSignal.timeout(opts.deadlineMs) : undefined;
    const signal = deadline && options.signal ? AbortSignal.any([deadline, options.signal]) : (deadline ?? options.signal ?? NO_SIGNAL);
    const budgetReason: OfflineReason | undefined = options.overBudget ? { kind: 'budget', detail: options.overBudget } : undefined;

    for (const entry of entries) {
      const name = entry.provider.name;
      const isOffline = name === OFFLINE;
      // Over budget: no provider is called at all, and the offline answer says why.
      if (budgetReason && !isOffline) continue;
      if (signal.aborted && !isOffline) {
        fallbacks.push({ provider: name, error: 'skipped: the time for this answer ran out' });
        emit({ type: 'call', provider: name, outcome: 'skipped', ms: 0 });
        continue;
      }
      const reason: OfflineReason =
        budgetReason ??
        (fallbacks.length > 0 ? { kind: 'unavailable', errors: fallbacks.map((f) => ({ provider: f.provider, message: f.error })) } : { kind: 'unconfigured' });
      const callStarted = now();
      try {
        const result = await call(entry, request, isOffline ? NO_SIGNAL : signal, reason, onDelta);
        const costUsd = costOf(prices, name, result);
        emit({
          type: 'call',
          provider: name,
          outcome: 'success',
          ms: now() - callStarted,
          inputTokens: result.inputTokens,
          outputTokens: result.outputTokens,
          costUsd,
        });
        const trace: LlmTrace = {
          provider: name,
          model: result.model,
          latencyMs: now() - started,
          streamed: Boolean(onDelta && entry.provider.stream),
          fallbacks,
        };
        if (request.promptVersion) trace.promptVersion = request.promptVersion;
        if (isOffline && reason.kind !== 'unconfigured') trace.offlineReason = reason.kind;
        const usage: LlmUsage = {
          provider: name,
          model: result.model,
          inputTokens: result.inputTokens,
          outputTokens: result.outputTokens,
          costUsd,
          promptHash: hash,
          trace,
        };
        return { ...result, usage };
      } catch (err) {
        const message = describeError(err);
        const skipped = err instanceof ProviderError && err.kind === 'circuit_open';
        fallbacks.push({ provider: name, error: message });
        const errorKind = err instanceof ProviderError ? err.kind : 'unknown';
        emit({ type: 'call', provider: name, outcome: skipped ? 'skipped' : 'failure', ms: now() - callStarted, errorKind });
        logger.warn(
          { provider: name, agent: request.agent, err: message },
          skipped ? 'LLM provider skipped; trying the next one' : 'LLM provider failed; trying the next one',
        );
      }
    }
    if (budgetReason) throw new LlmChainError([{ provider: 'budget', message: `${budgetReason.detail}, and no offline provider is in the chain` }]);
    throw new LlmChainError(fallbacks.map((f) => ({ provider: f.provider, message: f.error })));
  }

  return {
    complete: (request, options = {}) => run(request, options),
    stream: (request, onDelta, options = {}) => run(request, options, onDelta),
    health: (): ProviderHealth[] => entries.map((e) => e.policy.health()),
  };
}

/**
 * The chain as one execution sees it: bound to that execution's budget verdict and, when someone can
 * watch the answer arrive, its stream listener. Agents just call `complete`.
 */
export function scopeChain(chain: LlmChain, scope: LlmChainOptions & { onDelta?: (d: LlmDelta) => void }): LlmChain {
  const { onDelta, ...options } = scope;
  return {
    complete: (request, more = {}) =>
      onDelta && chain.stream ? chain.stream(request, onDelta, { ...options, ...more }) : chain.complete(request, { ...options, ...more }),
    stream: chain.stream ? (request, listener, more = {}) => chain.stream!(request, listener, { ...options, ...more }) : undefined,
    health: () => chain.health(),
  };
}
