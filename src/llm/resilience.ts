/**
 * Per-provider resilience with cockatiel: a timeout per attempt, retries with exponential backoff and
 * jitter on retryable errors only (honouring retry-after), and a circuit breaker around it all so a
 * dead provider is skipped at once and probed again after a cooldown.
 *
 *   breaker( retry( timeout( call ) ) )
 *
 * The breaker sees one outcome per request (after its retries), so LLM_BREAKER_THRESHOLD counts
 * failed requests, not attempts. The SDKs' own retries are off (maxRetries: 0): retrying happens here.
 */
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  TaskCancelledError,
  TimeoutStrategy,
  circuitBreaker,
  handleWhen,
  retry,
  timeout,
  type IBackoff,
  type IBackoffFactory,
  type IRetryBackoffContext,
} from 'cockatiel';
import type { ProviderHealth } from '../ports.ts';
import { ProviderError, describeError } from './errors.ts';

export type ResilienceOptions = {
  /** One attempt's time limit; for a stream, the longest wait for its first or next piece of text. */
  timeoutMs: number;
  /** A stream's whole attempt may take this long (default 10 × timeoutMs): long answers keep streaming. */
  streamTimeoutMs?: number;
  /** Attempts after the first, for retryable errors. */
  maxRetries: number;
  /** First backoff; it doubles per retry up to `maxBackoffMs`, with jitter. */
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** A retry-after longer than this is not waited for: the chain falls back to the next provider instead. */
  maxRetryAfterMs: number;
  /** Consecutive failed requests that open the breaker. */
  breakerThreshold: number;
  /** How long an open breaker skips the provider before letting one probe request through. */
  cooldownMs: number;
  /** The clock for health reporting (cockatiel's own timing uses Date.now, which tests can set). */
  now?: () => number;
  /** The jitter source. */
  random?: () => number;
};

export const DEFAULT_RESILIENCE: ResilienceOptions = {
  timeoutMs: 30_000,
  maxRetries: 2,
  baseBackoffMs: 250,
  maxBackoffMs: 8_000,
  maxRetryAfterMs: 20_000,
  breakerThreshold: 3,
  cooldownMs: 30_000,
};

export type ResilienceEvent =
  | { type: 'retry'; provider: string; attempt: number; delayMs: number; error: string }
  | { type: 'breaker'; provider: string; state: ProviderHealth['state']; error?: string };

/** A call under the policies; a streaming call reports each piece of text with `progress()`. */
export type ResilientCall<T> = (signal: AbortSignal, progress: () => void) => Promise<T>;

export type Resilient = {
  /** Runs `call` under the policies. Every failure comes out as a ProviderError. */
  execute<T>(call: ResilientCall<T>, signal?: AbortSignal, opts?: { streaming?: boolean }): Promise<T>;
  health(): ProviderHealth;
};

const IDLE = Symbol('idle');
const noProgress = () => {};

/**
 * Exponential backoff with "equal jitter" (half fixed, half random), never shorter than the
 * provider's retry-after.
 */
function backoff(opts: ResilienceOptions, random: () => number): IBackoffFactory<IRetryBackoffContext<unknown>> {
  const factory: IBackoffFactory<IRetryBackoffContext<unknown>> = {
    next(context): IBackoff<IRetryBackoffContext<unknown>> {
      const exponential = Math.min(opts.maxBackoffMs, opts.baseBackoffMs * 2 ** (context.attempt - 1));
      const jittered = exponential / 2 + (random() * exponential) / 2;
      const error = 'error' in context.result ? context.result.error : undefined;
      const asked = error instanceof ProviderError ? (error.retryAfterMs ?? 0) : 0;
      return { duration: Math.round(Math.max(jittered, asked)), next: factory.next };
    },
  };
  return factory;
}

export function createResilience(provider: string, options: Partial<ResilienceOptions>, onEvent: (e: ResilienceEvent) => void = () => {}): Resilient {
  const opts = { ...DEFAULT_RESILIENCE, ...options };
  const now = opts.now ?? Date.now;
  let lastError: { message: string } | undefined;
  let openedAt = 0;

  const retryable = (err: unknown) => err instanceof ProviderError && err.retryable && (err.retryAfterMs ?? 0) <= opts.maxRetryAfterMs;
  const retryPolicy = retry(handleWhen(retryable), { maxAttempts: opts.maxRetries, backoff: backoff(opts, opts.random ?? Math.random) });
  const timeoutPolicy = timeout(opts.timeoutMs, TimeoutStrategy.Aggressive);
  const streamTimeoutPolicy = timeout(opts.streamTimeoutMs ?? opts.timeoutMs * 10, TimeoutStrategy.Aggressive);
  const breaker = circuitBreaker(
    handleWhen((err) => err instanceof ProviderError && err.countsAgainstProvider),
    { halfOpenAfter: opts.cooldownMs, breaker: new ConsecutiveBreaker(opts.breakerThreshold) },
  );

  retryPolicy.onRetry((e) => {
    const error = 'error' in e ? describeError(e.error) : 'rejected result';
    onEvent({ type: 'retry', provider, attempt: e.attempt, delayMs: e.delay, error });
  });
  breaker.onBreak((reason) => {
    openedAt = now();
    onEvent({ type: 'breaker', provider, state: 'open', error: 'error' in reason ? describeError(reason.error) : undefined });
  });
  breaker.onHalfOpen(() => onEvent({ type: 'breaker', provider, state: 'half-open' }));
  breaker.onReset(() => onEvent({ type: 'breaker', provider, state: 'closed' }));

  /**
   * A stream may run long as long as text keeps coming: it fails when `timeoutMs` pass without a piece
   * of text (the first included), and under the longer whole-attempt timeout.
   */
  async function streamWithIdleTimeout<T>(call: ResilientCall<T>, signal: AbortSignal): Promise<T> {
    const idle = new AbortController();
    const forward = () => idle.abort(signal.reason);
    signal.addEventListener('abort', forward, { once: true });
    let timer = setTimeout(() => idle.abort(IDLE), opts.timeoutMs);
    const progress = () => {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(IDLE), opts.timeoutMs);
    };
    // Also rejects for a provider that ignores its signal.
    const stalled = new Promise<never>((_, reject) =>
      idle.signal.addEventListener(
        'abort',
        () => idle.signal.reason === IDLE && reject(new ProviderError(provider, 'timeout', `no text within ${opts.timeoutMs} ms`)),
      ),
    );
    try {
      return await Promise.race([call(idle.signal, progress), stalled]);
    } catch (err) {
      if (idle.signal.reason === IDLE) throw new ProviderError(provider, 'timeout', `no text within ${opts.timeoutMs} ms`, { cause: err });
      throw err;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', forward);
    }
  }

  /** One attempt under the timeout; a cockatiel timeout becomes a ProviderError the retry and breaker understand. */
  async function attempt<T>(call: ResilientCall<T>, parent: AbortSignal, streaming: boolean): Promise<T> {
    try {
      if (streaming) return await streamTimeoutPolicy.execute(({ signal }) => streamWithIdleTimeout(call, signal), parent);
      return await timeoutPolicy.execute(({ signal }) => call(signal, noProgress), parent);
    } catch (err) {
      if (err instanceof ProviderError) throw err;
      if (parent.aborted) throw new ProviderError(provider, 'aborted', 'the time for this answer ran out', { cause: err });
      if (err instanceof TaskCancelledError) {
        const ms = streaming ? (opts.streamTimeoutMs ?? opts.timeoutMs * 10) : opts.timeoutMs;
        throw new ProviderError(provider, 'timeout', `no answer within ${ms} ms`, { cause: err });
      }
      // A provider that throws something untranslated (a bug, a test double): count it, do not retry it.
      throw new ProviderError(provider, 'unknown', describeError(err), { cause: err });
    }
  }

  function state(): ProviderHealth['state'] {
    switch (breaker.state) {
      case CircuitState.Closed:
        return 'closed';
      case CircuitState.HalfOpen:
        return 'half-open';
      default:
        // Cockatiel moves to half-open on the next call after the cooldown; report that it is due.
        return now() - openedAt >= opts.cooldownMs ? 'half-open' : 'open';
    }
  }

  return {
    async execute(call, signal = new AbortController().signal, { streaming = false } = {}) {
      try {
        const result = await breaker.execute(({ signal: s }) => retryPolicy.execute(({ signal: r }) => attempt(call, r, streaming), s), signal);
        lastError = undefined;
        return result;
      } catch (err) {
        if (err instanceof BrokenCircuitError) {
          const wait = Math.max(0, Math.ceil((opts.cooldownMs - (now() - openedAt)) / 1000));
          throw new ProviderError(
            provider,
            'circuit_open',
            `skipped: circuit open after repeated failures (last: ${lastError?.message ?? 'unknown'}); next probe in ${wait} s`,
            { cause: err },
          );
        }
        const error = err instanceof ProviderError ? err : new ProviderError(provider, 'unknown', describeError(err), { cause: err });
        if (error.countsAgainstProvider) lastError = { message: error.message };
        throw error;
      }
    },
    health() {
      return lastError ? { name: provider, state: state(), lastError: lastError.message } : { name: provider, state: state() };
    },
  };
}
