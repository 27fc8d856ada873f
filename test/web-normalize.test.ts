/**
 * The web channel's request → envelope step (channels/web/normalize.ts), field by field and refusal by refusal: each
 * limit at its edge, each refusal's exact words (they tell an API client what to fix), and the delivery id a retry
 * keeps. Loads only the normalizer, no platform SDK: `npm run mutate` runs these once per mutant.
 */
import { describe, expect, it } from 'vitest';
import { normalizeWeb } from '../channels/web/normalize.ts';
import { NOW, one, raw, refusal } from './support/normalize.ts';

const post = (body: unknown, headers: Record<string, string> = {}) =>
  raw({ body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
const normalize = (body: unknown, headers?: Record<string, string>) => one(normalizeWeb(post(body, headers), () => NOW));
/** The refusal's code and message for `body`. */
const refused = async (body: unknown, headers?: Record<string, string>) => {
  const error = await refusal(() => normalizeWeb(post(body, headers), () => NOW));
  expect(error.status).toBe(400);
  return `${error.code}: ${error.message}`;
};

describe('web normalize, field by field', () => {
  it('builds the envelope of a message in a named conversation', () => {
    const body = { text: ' what broke? ', user_id: 'alice', conversation_id: 'Ops_2025:06.01-a' };
    expect(normalize(body)).toEqual({
      channel: 'web',
      deliveryId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      tenantId: 'web',
      conversationKey: 'Ops_2025:06.01-a',
      userId: 'alice',
      text: ' what broke? ',
      receivedAt: NOW.toISOString(),
      raw: body,
    });
  });

  it("puts a user's messages without a conversation, or with a null one, in the user's own", () => {
    expect(normalize({ text: 'a', user_id: 'bob' }).conversationKey).toBe('web:bob');
    expect(normalize({ text: 'a', user_id: 'bob', conversation_id: null }).conversationKey).toBe('web:bob');
  });

  it('takes the time from the clock it is given, and from the real one by default', () => {
    const before = Date.now();
    const [envelope] = normalizeWeb(post({ text: 'a', user_id: 'bob' }));
    const at = Date.parse(envelope!.receivedAt);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());
  });

  it('keeps the Idempotency-Key as the delivery id, and makes a new one per request without it', async () => {
    expect(normalize({ text: 'a', user_id: 'b' }, { 'Idempotency-Key': 'retry-1' }).deliveryId).toBe('retry-1');
    expect(normalize({ text: 'a', user_id: 'b' }, { 'Idempotency-Key': 'k'.repeat(256) }).deliveryId).toBe('k'.repeat(256));
    expect(normalize({ text: 'a', user_id: 'b' }).deliveryId).not.toBe(normalize({ text: 'a', user_id: 'b' }).deliveryId);
    const tooLong = 'invalid_request: Idempotency-Key header must be 1–256 characters';
    expect(await refused({ text: 'a', user_id: 'b' }, { 'Idempotency-Key': 'k'.repeat(257) })).toBe(tooLong);
    expect(await refused({ text: 'a', user_id: 'b' }, { 'Idempotency-Key': '' })).toBe(tooLong);
  });

  it('takes text up to 32 KiB of UTF-8 and ids up to 256 characters', () => {
    const longest = { text: `${'é'.repeat(16 * 1024 - 1)}xy`, user_id: 'u'.repeat(256), conversation_id: 'c'.repeat(256) };
    expect(normalize(longest)).toMatchObject({ text: longest.text, userId: longest.user_id, conversationKey: longest.conversation_id });
    expect(normalize({ text: 'x', user_id: 'u' }).text).toBe('x');
  });
});

describe('web normalize, refusals', () => {
  it('refuses a body that is no JSON, saying what it should look like', async () => {
    expect(await refused('{"text": "hi",')).toBe('malformed_json: body must be JSON like {"text": "…", "user_id": "…", "conversation_id": "…"}');
  });

  it('refuses JSON that is no object, as the body', async () => {
    expect(await refused([{ text: 'hi', user_id: 'a' }])).toBe('invalid_request: invalid message: body: must be a JSON object');
    expect(await refused(null)).toBe('invalid_request: invalid message: body: must be a JSON object');
  });

  it('lists every field problem at once, each under its field', async () => {
    expect(await refused({ text: ' \n ', conversation_id: 'has space' })).toBe(
      'invalid_request: invalid message: text: must not be empty; user_id: is required and must be a string; ' +
        'conversation_id: must be non-empty and use only letters, digits, "-", "_", ":" and "."',
    );
  });

  it.each([
    ['text is missing', { user_id: 'a' }, 'text: is required and must be a string'],
    ['text is no string', { text: 42, user_id: 'a' }, 'text: is required and must be a string'],
    ['text is empty', { text: '', user_id: 'a' }, 'text: must not be empty'],
    ['text is over 32 KiB', { text: 'x'.repeat(32 * 1024 + 1), user_id: 'a' }, 'text: must be at most 32768 bytes (32 KiB) of UTF-8'],
    [
      'text is over 32 KiB of UTF-8 in fewer characters',
      { text: `${'é'.repeat(16 * 1024)}x`, user_id: 'a' },
      'text: must be at most 32768 bytes (32 KiB) of UTF-8',
    ],
    ['user_id is no string', { text: 'hi', user_id: 7 }, 'user_id: is required and must be a string'],
    ['user_id is empty', { text: 'hi', user_id: '' }, 'user_id: must not be empty'],
    ['user_id is too long', { text: 'hi', user_id: 'u'.repeat(257) }, 'user_id: must be at most 256 characters'],
    ['conversation_id is no string', { text: 'hi', user_id: 'a', conversation_id: 5 }, 'conversation_id: must be a string'],
    ['conversation_id is too long', { text: 'hi', user_id: 'a', conversation_id: 'c'.repeat(257) }, 'conversation_id: must be at most 256 characters'],
  ])('refuses a message when %s', async (_, body, problem) => {
    expect(await refused(body)).toBe(`invalid_request: invalid message: ${problem}`);
  });

  it.each(['', 'a/b', ' ab', 'ab ', 'a\nb', 'ab\n', 'é'])('refuses the conversation id %j', async (conversation) => {
    expect(await refused({ text: 'hi', user_id: 'a', conversation_id: conversation })).toBe(
      'invalid_request: invalid message: conversation_id: must be non-empty and use only letters, digits, "-", "_", ":" and "."',
    );
  });
});
