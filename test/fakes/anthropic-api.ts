/**
 * A fake Anthropic Messages API (POST /v1/messages) speaking the real wire format: JSON messages with
 * usage, SSE streams (message_start … content_block_delta … message_delta with usage … message_stop,
 * pings included), `error` events mid-stream, and error bodies `{ type: "error", error: { type, message } }`.
 */
import { sse, startFakeLlm, type FakeLlm, type WireFormat } from './llm-fake.ts';

export type { Behaviour, FakeLlm } from './llm-fake.ts';

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

const anthropicWire: WireFormat = {
  path: '/v1/messages',
  // Older SDKs send the key as x-api-key, newer ones as a bearer token; both carry anthropic-version.
  authorized: (headers, key) => (headers['x-api-key'] === key || headers.authorization === `Bearer ${key}`) && typeof headers['anthropic-version'] === 'string',
  isStream: (body) => body.stream === true,
  json: (body, a) => ({
    id: 'msg_fake',
    type: 'message',
    role: 'assistant',
    model: body.model,
    content: [{ type: 'text', text: a.text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: a.inputTokens, output_tokens: a.outputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  }),
  streamStart: (body, a) => [
    sse(
      {
        type: 'message_start',
        message: {
          id: 'msg_fake',
          type: 'message',
          role: 'assistant',
          model: body.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: a.inputTokens, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
        },
      },
      'message_start',
    ),
    sse({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start'),
    sse({ type: 'ping' }, 'ping'),
  ],
  streamChunk: (_body, _a, chunk) => sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: chunk } }, 'content_block_delta'),
  streamEnd: (_body, a) => [
    sse({ type: 'content_block_stop', index: 0 }, 'content_block_stop'),
    sse({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: a.outputTokens } }, 'message_delta'),
    sse({ type: 'message_stop' }, 'message_stop'),
  ],
  streamError: (type, message) => sse({ type: 'error', error: { type, message } }, 'error'),
  models: () => ({
    data: [{ type: 'model', id: 'claude-sonnet-4-6', display_name: 'Claude Sonnet 4.6', created_at: '2026-01-01T00:00:00Z' }],
    has_more: false,
    first_id: 'claude-sonnet-4-6',
    last_id: 'claude-sonnet-4-6',
  }),
  errorBody: (status, type, message) => ({ type: 'error', error: { type: type ?? ERROR_TYPES[status] ?? 'api_error', message }, request_id: 'req_fake' }),
};

/** Starts the fake on a free port; point ANTHROPIC_BASE_URL at `url`. The API key it accepts is `key` (default `k`). */
export function startFakeAnthropic(opts: { key?: string } = {}): Promise<FakeLlm> {
  return startFakeLlm('anthropic', anthropicWire, opts);
}
