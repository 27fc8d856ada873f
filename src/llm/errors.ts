/**
 * One error type for every provider. Each provider adapter translates its SDK's errors into a
 * ProviderError, so retries and the circuit breaker decide on `kind` and never on an SDK class.
 */

/**
 * - `rate_limited` (429), `overloaded` (529, Anthropic `overloaded_error`), `server` (5xx, 408, 409),
 *   `network` (connection refused/reset): retryable.
 * - `timeout`: the attempt ran past LLM_TIMEOUT_SECONDS; not retried (a hung provider tends to stay hung),
 *   the chain falls back at once.
 * - `config` (401, 403, 404: bad key or model): every call will fail the same way.
 * - `request` (400, 413, 422): this request is the problem, not the provider; does not count against it.
 * - `aborted`: the caller gave up (the chain's deadline).
 * - `circuit_open`: not called at all; its breaker is open.
 * - `unknown`: something the adapter did not translate; counted, not retried.
 */
export type ProviderErrorKind =
  | 'rate_limited'
  | 'overloaded'
  | 'server'
  | 'network'
  | 'timeout'
  | 'config'
  | 'request'
  | 'aborted'
  | 'circuit_open'
  | 'unknown';

const RETRYABLE = new Set<ProviderErrorKind>(['rate_limited', 'overloaded', 'server', 'network']);
const NOT_THE_PROVIDERS_FAULT = new Set<ProviderErrorKind>(['request', 'aborted', 'circuit_open']);

export class ProviderError extends Error {
  readonly provider: string;
  readonly kind: ProviderErrorKind;
  readonly status?: number;
  /** From `retry-after-ms` or `retry-after`: the provider asked us to wait at least this long. */
  readonly retryAfterMs?: number;
  constructor(provider: string, kind: ProviderErrorKind, message: string, opts: { status?: number; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'ProviderError';
    this.provider = provider;
    this.kind = kind;
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.kind);
  }

  /** Whether this failure says something about the provider's health (and so counts toward opening its breaker). */
  get countsAgainstProvider(): boolean {
    return !NOT_THE_PROVIDERS_FAULT.has(this.kind);
  }
}

/** What an HTTP status says about the provider. */
export function kindOfStatus(status: number): ProviderErrorKind {
  if (status === 429) return 'rate_limited';
  if (status === 529) return 'overloaded';
  if (status >= 500 || status === 408 || status === 409) return 'server';
  if (status === 401 || status === 403 || status === 404) return 'config';
  return 'request';
}

/** What an error `type` in a body says, for errors without a status (an `error` event inside a stream). */
export function kindOfType(type: string | null | undefined): ProviderErrorKind {
  switch (type) {
    case 'overloaded_error':
      return 'overloaded';
    case 'rate_limit_error':
    case 'rate_limit_exceeded':
      return 'rate_limited';
    case 'api_error':
    case 'server_error':
    case 'timeout_error':
      return 'server';
    case 'authentication_error':
    case 'permission_error':
    case 'not_found_error':
      return 'config';
    default:
      return 'request';
  }
}

/** `retry-after-ms` (OpenAI) wins over `retry-after` (seconds or an HTTP date). Undefined when absent or unreadable. */
export function retryAfterMs(headers: Headers | undefined, now: () => number = Date.now): number | undefined {
  if (!headers) return undefined;
  const ms = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now());
}

/** An error and its causes, outermost first: `fetch failed: connect ECONNREFUSED 127.0.0.1:1`. */
export function causeChain(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const message = e instanceof Error ? e.message : String(e);
    if (message && !parts.includes(message)) parts.push(message);
  }
  return describeError(parts.join(': '));
}

/** A short, single-line reason for logs, health and the execution's trace. */
export function describeError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const flat = message.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 199)}…` : flat;
}
