/**
 * The hostile-input helpers edge by edge: boundaries, paths and copies that the hostile-input suite does not pin.
 * Fast on purpose: `npm run mutate` runs it once per mutant of src/sanitize.ts.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  boundedKey,
  findUnstorableText,
  jsonDepthExceeds,
  MAX_JSON_DEPTH,
  MAX_KEY_CHARS,
  sanitizeEnvelope,
  sanitizeText,
  sanitizeValue,
} from '../src/sanitize.ts';
import type { Envelope } from '../src/types.ts';

describe('JSON depth', () => {
  const depth = (n: number, open = '[', close = ']') => `${open.repeat(n)}${close.repeat(n)}`;

  it('is exceeded only past the limit, by arrays or objects, 64 by default', () => {
    expect(jsonDepthExceeds(depth(MAX_JSON_DEPTH))).toBe(false);
    expect(jsonDepthExceeds(depth(MAX_JSON_DEPTH + 1))).toBe(true);
    expect(jsonDepthExceeds(depth(3, '{', '}'), 3)).toBe(false);
    expect(jsonDepthExceeds(depth(4, '{', '}'), 3)).toBe(true);
    expect(jsonDepthExceeds('', 0)).toBe(false);
  });

  it('goes down again on each closing bracket of either kind, and on nothing else', () => {
    expect(jsonDepthExceeds('[[]][[]][{}]{[]}', 2)).toBe(false);
    expect(jsonDepthExceeds('[1,[2,[3]]]', 2)).toBe(true);
  });

  it('skips brackets in strings, escaped quotes included, and counts again after the string', () => {
    expect(jsonDepthExceeds('["\\"[[["]', 1)).toBe(false);
    expect(jsonDepthExceeds('["\\\\"[[]]]', 2)).toBe(true);
    expect(jsonDepthExceeds('["a"[]]', 1)).toBe(true);
  });
});

describe('finding unstorable text', () => {
  it('names the path: the body itself, a field, an array item, a key', () => {
    expect(findUnstorableText('a\u0000')).toBe('body');
    expect(findUnstorableText({ a: { b: 'x\uD800' } })).toBe('a.b');
    expect(findUnstorableText({ a: ['ok', 'x\uDC00'] })).toBe('a[1]');
    expect(findUnstorableText([{ c: '\u0000' }])).toBe('[0].c');
    expect(findUnstorableText({ a: { 'k\u0000': 1 } })).toBe('a.k\u0000');
    expect(findUnstorableText({ a: 'ok', b: [1, null, true, undefined], c: '😀', d: undefined })).toBeUndefined();
  });
});

describe('sanitizing', () => {
  it('replaces each bad character with U+FFFD and leaves good text as it is', () => {
    expect(sanitizeText('\u0000\u0000')).toBe('\uFFFD\uFFFD');
    expect(sanitizeText('fine 😀')).toBe('fine 😀');
  });

  it('copies plain data into writable, enumerable fields and leaves the original alone', () => {
    const input = { a: ['x\u0000', { b: 'y' }], n: 1, none: null };
    const clean = sanitizeValue(input);
    expect(clean).toEqual({ a: ['x\uFFFD', { b: 'y' }], n: 1, none: null });
    expect(Array.isArray(clean.a)).toBe(true);
    expect(clean.a).not.toBe(input.a);
    expect(input.a[0]).toBe('x\u0000');
    clean.n = 2;
    delete (clean as Partial<typeof clean>).none;
    expect(clean).toEqual({ a: ['x\uFFFD', { b: 'y' }], n: 2 });
  });

  it('keeps values that are not plain data as they are, and passes primitives through', () => {
    const date = new Date(0);
    const clean = sanitizeValue({ date, list: [date] });
    expect(clean.date).toBe(date);
    expect(clean.list[0]).toBe(date);
    expect(sanitizeValue('\u0000')).toBe('\uFFFD');
    expect(sanitizeValue(5)).toBe(5);
    expect(sanitizeValue(null)).toBeNull();
    expect(sanitizeValue([])).toEqual([]);
    expect(sanitizeValue({ a: [], b: {}, c: undefined })).toEqual({ a: [], b: {}, c: undefined });
  });
});

describe('bounded keys', () => {
  it(`keep ${MAX_KEY_CHARS} characters as they are and hash anything longer`, () => {
    const fits = 'k'.repeat(MAX_KEY_CHARS);
    expect(boundedKey(fits)).toBe(fits);
    expect(boundedKey(`${fits}k`)).toBe(`sha256:${createHash('sha256').update(`${fits}k`).digest('hex')}`);
    expect(boundedKey(`${fits}k`)).not.toBe(boundedKey(`${fits}j`));
  });

  it('bound every indexed id of an envelope, and add no content key it did not have', () => {
    const long = 'x'.repeat(MAX_KEY_CHARS + 1);
    const envelope = { deliveryId: long, tenantId: long, conversationKey: long, userId: long, text: 'a\u0000' } as unknown as Envelope;
    const clean = sanitizeEnvelope(envelope);
    for (const key of ['deliveryId', 'tenantId', 'conversationKey', 'userId'] as const) expect(clean[key]).toBe(boundedKey(long));
    expect(clean.text).toBe('a\uFFFD');
    expect('contentKey' in clean).toBe(false);
    expect(sanitizeEnvelope({ ...envelope, contentKey: long }).contentKey).toBe(boundedKey(long));
  });

  it("leave a clean envelope's payload uncopied, and repair one bad key or value however deep in it", () => {
    const raw = { event: { blocks: [{ text: 'fine 😀', n: 1 }] } };
    const envelope = { deliveryId: 'd', tenantId: 't', conversationKey: 'c', userId: 'u', text: 'hi', raw } as unknown as Envelope;
    expect(sanitizeEnvelope(envelope).raw).toBe(raw);
    const badKey = sanitizeEnvelope({ ...envelope, raw: { event: { blocks: [{ 'k\uD800': 1 }] } } });
    expect(badKey.raw).toEqual({ event: { blocks: [{ 'k\uFFFD': 1 }] } });
    const badValue = sanitizeEnvelope({ ...envelope, raw: { event: { blocks: [{ text: 'a\u0000' }] } } });
    expect(badValue.raw).toEqual({ event: { blocks: [{ text: 'a\uFFFD' }] } });
  });
});
