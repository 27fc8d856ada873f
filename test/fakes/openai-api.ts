/**
 * A fake OpenAI Chat Completions API (POST /v1/chat/completions) speaking the real wire format: JSON
 * completions with usage, SSE chunks ending in `data: [DONE]` (with a final usage chunk when
 * `stream_options.include_usage` is set), and error bodies `{ error: { message, type, code } }`.
 */
import { sse, startFakeLlm, type FakeLlm, type WireFormat } from './llm-fake.ts';

export type { Behaviour, FakeLlm } from './llm-fake.ts';

const CREATED = 1_700_000_000;

const chunk = (body: any, choices: unknown[], extra: Record<string, unknown> = {}) =>
  sse({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: CREATED, model: body.model, choices, ...extra });

const openaiWire: WireFormat = {
  path: '/v1/chat/completions',
  authorized: (headers, key) => headers.authorization === `Bearer ${key}`,
  isStream: (body) => body.stream === true,
  json: (body, a) => ({
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: CREATED,
    model: body.model,
    choices: [{ index: 0, message: { role: 'assistant', content: a.text, refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: a.inputTokens, completion_tokens: a.outputTokens, total_tokens: a.inputTokens + a.outputTokens },
  }),
  streamStart: (body) => [chunk(body, [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }])],
  streamChunk: (body, _a, text) => chunk(body, [{ index: 0, delta: { content: text }, finish_reason: null }]),
  streamEnd: (body, a) => [
    chunk(body, [{ index: 0, delta: {}, finish_reason: 'stop' }]),
    ...(body.stream_options?.include_usage
      ? [chunk(body, [], { usage: { prompt_tokens: a.inputTokens, completion_tokens: a.outputTokens, total_tokens: a.inputTokens + a.outputTokens } })]
      : []),
    sse('[DONE]'),
  ],
  streamError: (type, message) => sse({ error: { message, type, code: type } }),
  models: () => ({ object: 'list', data: [{ id: 'gpt-5-mini', object: 'model', created: CREATED, owned_by: 'openai' }] }),
  errorBody: (status, type, message) => ({
    error: {
      message,
      type: type ?? (status === 429 ? 'requests' : status >= 500 ? 'server_error' : 'invalid_request_error'),
      param: null,
      code: status === 429 ? 'rate_limit_exceeded' : null,
    },
  }),
};

/** Starts the fake on a free port; point OPENAI_BASE_URL at `url` (it ends in /v1). The API key it accepts is `key` (default `k`). */
export function startFakeOpenAi(opts: { key?: string } = {}): Promise<FakeLlm> {
  return startFakeLlm('openai', openaiWire, { ...opts, basePath: '/v1' });
}
