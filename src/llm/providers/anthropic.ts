/** The `anthropic` provider: the Messages API through @anthropic-ai/sdk, JSON or SSE streaming. */
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError, Anthropic } from '@anthropic-ai/sdk';
import type { LlmCallOptions, LlmProvider, LlmRequest, LlmResult } from '../../ports.ts';
import { ProviderError, causeChain, describeError, kindOfStatus, kindOfType, retryAfterMs } from '../errors.ts';

export type AnthropicOptions = {
  apiKey: string;
  baseUrl?: string;
  model: string;
  timeoutMs: number;
  /** What the SDK would print to the console (a deprecated model, on every call): handed to the caller's logger instead. */
  onSdkWarning?: (text: string) => void;
};

const NAME = 'anthropic';
const DEFAULT_MAX_TOKENS = 1024;

type Usage = { input_tokens?: number | null; cache_creation_input_tokens?: number | null; cache_read_input_tokens?: number | null };

/** Billed input is the sum of fresh, cache-written and cache-read tokens. */
function inputTokens(u: Usage): number {
  return (u.input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
}

export function createAnthropicProvider(opts: AnthropicOptions): LlmProvider {
  const client = new Anthropic({
    apiKey: opts.apiKey,
    authToken: null,
    // Explicit, so the SDK never reads ANTHROPIC_BASE_URL itself: config.ts is the only env reader.
    baseURL: opts.baseUrl ?? 'https://api.anthropic.com',
    // Cockatiel owns retries and timeouts; the SDK's timeout is only a backstop.
    maxRetries: 0,
    timeout: opts.timeoutMs + 1000,
  });
  const params = (request: LlmRequest) => ({
    model: opts.model,
    max_tokens: request.maxTokens ?? DEFAULT_MAX_TOKENS,
    system: request.system,
    messages: request.messages,
  });

  /**
   * `messages.create` warns about a deprecated model with console.warn, synchronously before it returns its promise
   * (its `logger` option does not carry that warning), so for that one synchronous call the warning is redirected.
   */
  function create<T>(call: () => T): T {
    if (!opts.onSdkWarning) return call();
    const original = console.warn;
    console.warn = (...args: unknown[]) => opts.onSdkWarning!(args.map(String).join(' '));
    try {
      return call();
    } finally {
      console.warn = original;
    }
  }

  return {
    name: NAME,
    async complete(request: LlmRequest, options: LlmCallOptions = {}): Promise<LlmResult> {
      try {
        const message = await create(() => client.messages.create(params(request), { signal: options.signal }));
        const text = message.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('');
        return { text, model: message.model, inputTokens: inputTokens(message.usage), outputTokens: message.usage.output_tokens };
      } catch (err) {
        throw translate(err, options.signal);
      }
    },
    async stream(request: LlmRequest, onDelta: (delta: string) => void, options: LlmCallOptions = {}): Promise<LlmResult> {
      try {
        const events = await create(() => client.messages.create({ ...params(request), stream: true }, { signal: options.signal }));
        let model = opts.model;
        let input = 0;
        let output = 0;
        let text = '';
        for await (const event of events) {
          if (event.type === 'message_start') {
            model = event.message.model;
            input = inputTokens(event.message.usage);
            output = event.message.usage.output_tokens;
          } else if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') {
            text += event.delta.text;
            onDelta(event.delta.text);
          } else if (event.type === 'message_delta') {
            // Cumulative counts; input appears here too on newer API versions.
            output = event.usage.output_tokens;
            input = Math.max(input, inputTokens(event.usage));
          }
        }
        // An aborted stream ends quietly in the SDK; a cut-off answer must not pass for a whole one.
        if (options.signal?.aborted) throw new APIUserAbortError();
        return { text, model, inputTokens: input, outputTokens: output };
      } catch (err) {
        throw translate(err, options.signal);
      }
    },
  };
}

/** SDK errors → ProviderError, so resilience decides on `kind` alone. */
function translate(err: unknown, signal: AbortSignal | undefined): ProviderError {
  if (err instanceof ProviderError) return err;
  if (err instanceof APIUserAbortError || signal?.aborted) return new ProviderError(NAME, 'aborted', 'the call was cancelled', { cause: err });
  if (err instanceof APIConnectionTimeoutError) return new ProviderError(NAME, 'timeout', 'the request timed out', { cause: err });
  if (err instanceof APIConnectionError) {
    return new ProviderError(NAME, 'network', `connection failed: ${causeChain(err.cause ?? err)}`, { cause: err });
  }
  if (err instanceof APIError) {
    const kind = err.status === undefined ? kindOfType(err.type) : kindOfStatus(err.status);
    const message = `${err.status ?? 'stream error'}${err.type ? ` ${err.type}` : ''}: ${err.apiMessage ?? err.message}`;
    return new ProviderError(NAME, kind, describeError(message), { status: err.status, retryAfterMs: retryAfterMs(err.headers), cause: err });
  }
  // Anything else mid-response (a connection cut while streaming) is a transport failure.
  return new ProviderError(NAME, 'network', causeChain(err), { cause: err });
}
