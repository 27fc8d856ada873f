/** The `openai` provider: chat completions through the openai SDK, JSON or SSE streaming with usage. */
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError, OpenAI } from 'openai';
import type { LlmCallOptions, LlmProvider, LlmRequest, LlmResult } from '../../ports.ts';
import { ProviderError, causeChain, describeError, kindOfStatus, kindOfType, retryAfterMs } from '../errors.ts';

export type OpenAiOptions = { apiKey: string; baseUrl?: string; model: string; timeoutMs: number };

const NAME = 'openai';
const DEFAULT_MAX_TOKENS = 1024;

export function createOpenAiProvider(opts: OpenAiOptions): LlmProvider {
  const client = new OpenAI({
    apiKey: opts.apiKey,
    // Explicit, so the SDK reads none of OPENAI_BASE_URL / OPENAI_ORG_ID / OPENAI_PROJECT_ID itself.
    baseURL: opts.baseUrl ?? 'https://api.openai.com/v1',
    organization: null,
    project: null,
    // Cockatiel owns retries and timeouts; the SDK's timeout is only a backstop.
    maxRetries: 0,
    timeout: opts.timeoutMs + 1000,
  });
  const params = (request: LlmRequest) => ({
    model: opts.model,
    max_completion_tokens: request.maxTokens ?? DEFAULT_MAX_TOKENS,
    messages: [{ role: 'system' as const, content: request.system }, ...request.messages],
  });

  return {
    name: NAME,
    async complete(request: LlmRequest, options: LlmCallOptions = {}): Promise<LlmResult> {
      try {
        const completion = await client.chat.completions.create(params(request), { signal: options.signal });
        return {
          text: completion.choices[0]?.message.content ?? '',
          model: completion.model,
          inputTokens: completion.usage?.prompt_tokens ?? 0,
          outputTokens: completion.usage?.completion_tokens ?? 0,
        };
      } catch (err) {
        throw translate(err, options.signal);
      }
    },
    async stream(request: LlmRequest, onDelta: (delta: string) => void, options: LlmCallOptions = {}): Promise<LlmResult> {
      try {
        const chunks = await client.chat.completions.create(
          { ...params(request), stream: true, stream_options: { include_usage: true } },
          { signal: options.signal },
        );
        let model = opts.model;
        let text = '';
        let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
        for await (const chunk of chunks) {
          model = chunk.model || model;
          const delta = chunk.choices[0]?.delta?.content;
          if (delta) {
            text += delta;
            onDelta(delta);
          }
          // With include_usage the last chunk has no choices and carries the whole call's usage.
          if (chunk.usage) usage = chunk.usage;
        }
        if (options.signal?.aborted) throw new APIUserAbortError();
        return { text, model, inputTokens: usage?.prompt_tokens ?? 0, outputTokens: usage?.completion_tokens ?? 0 };
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
    const body = (err.error ?? {}) as { type?: string; code?: string; message?: string };
    const kind = err.status === undefined ? kindOfType(body.type ?? body.code) : kindOfStatus(err.status);
    const type = body.type ?? body.code;
    const message = `${err.status ?? 'stream error'}${type ? ` ${type}` : ''}: ${body.message ?? err.message}`;
    return new ProviderError(NAME, kind, describeError(message), { status: err.status, retryAfterMs: retryAfterMs(err.headers), cause: err });
  }
  return new ProviderError(NAME, 'network', causeChain(err), { cause: err });
}
