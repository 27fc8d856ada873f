/**
 * Hostile input, dealt with once in the core: text the database cannot hold, keys its indexes cannot hold, and
 * JSON nested deep enough to exhaust a stack. Platform events are repaired (a platform retries anything it does not
 * see accepted); admin API input is refused, since its sender can fix it.
 */
import { createHash } from 'node:crypto';
import type { Envelope } from './types.ts';

/** The nesting depth every JSON body may have: far above any real payload (GitHub's reach about 8). */
export const MAX_JSON_DEPTH = 64;

/**
 * Longest id kept as it is in an indexed column. Postgres refuses a btree row over ~2,700 bytes; 256 characters
 * stay under that even at 4 bytes each, and every real platform id is far shorter.
 */
export const MAX_KEY_CHARS = 256;

// NUL: text and jsonb both refuse it. Lone surrogates: not encodable as UTF-8, so Postgres refuses them too.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');
/** Any NUL or surrogate at all: a plain character class, much quicker to rule out than the pattern above. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point
const SUSPECT = /[\u0000\uD800-\uDFFF]/;

/** Whether `text` holds a NUL or a lone UTF-16 surrogate. */
export function hasUnstorableText(text: string): boolean {
  return SUSPECT.test(text) && UNSTORABLE.test(text);
}

/** `text` with every NUL and lone surrogate replaced by U+FFFD. */
export function sanitizeText(text: string): string {
  return hasUnstorableText(text) ? text.replace(UNSTORABLE_ALL, '\uFFFD') : text;
}

/**
 * The nesting depth of a JSON text, counted on the raw characters without parsing or recursion, stopping as soon as
 * it passes `max`. Brackets inside strings do not count. Malformed text is left for the parser to refuse.
 */
export function jsonDepthExceeds(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/**
 * The path of the first string (value or key) in `value` holding a NUL or a lone surrogate, or undefined. Walks
 * with an explicit stack, so no input can overflow the call stack.
 */
export function findUnstorableText(value: unknown): string | undefined {
  const stack: [unknown, string][] = [[value, '']];
  while (stack.length) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (hasUnstorableText(v)) return path || 'body';
    } else if (v !== null && typeof v === 'object') {
      for (const [key, child] of Object.entries(v)) {
        const childPath = Array.isArray(v) ? `${path}[${key}]` : path ? `${path}.${key}` : key;
        if (hasUnstorableText(key)) return childPath;
        stack.push([child, childPath]);
      }
    }
  }
  return undefined;
}

/** Whether `sanitizeValue` would change anything in `value`: the same walk, without copying or naming paths. */
function holdsUnstorableText(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (hasUnstorableText(v)) return true;
    } else if (v !== null && typeof v === 'object' && (v === value || Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype)) {
      for (const key of Object.keys(v)) {
        if (hasUnstorableText(key)) return true;
        stack.push((v as Record<string, unknown>)[key]);
      }
    }
  }
  return false;
}

/** A copy of `value` with every string (values and keys) passed through `sanitizeText`; no recursion. */
export function sanitizeValue<T>(value: T): T {
  if (typeof value === 'string') return sanitizeText(value) as T;
  if (value === null || typeof value !== 'object') return value;
  // Plain JSON data only: anything else (a Date …) is copied by JSON serialization when stored, as before.
  const root: unknown = Array.isArray(value) ? [] : {};
  const stack: [Record<string, unknown>, Record<string, unknown>][] = [[value as Record<string, unknown>, root as Record<string, unknown>]];
  while (stack.length) {
    const [from, to] = stack.pop()!;
    for (const [key, child] of Object.entries(from)) {
      let copy: unknown = child;
      if (typeof child === 'string') copy = sanitizeText(child);
      else if (child !== null && typeof child === 'object' && (Array.isArray(child) || Object.getPrototypeOf(child) === Object.prototype)) {
        copy = Array.isArray(child) ? [] : {};
        stack.push([child as Record<string, unknown>, copy as Record<string, unknown>]);
      }
      // defineProperty, not assignment: a JSON key named `__proto__` must stay a plain key, not set a prototype.
      Object.defineProperty(to, Array.isArray(to) ? key : sanitizeText(key), { value: copy, enumerable: true, writable: true, configurable: true });
    }
  }
  return root as T;
}

/** `id` itself when it fits an index, else a fixed-length digest of it: still unique per id, still stable across retries. */
export function boundedKey(id: string): string {
  return id.length <= MAX_KEY_CHARS ? id : `sha256:${createHash('sha256').update(id).digest('hex')}`;
}

/**
 * An envelope the database can store: every string sanitized (the `raw` payload included, since it is kept as jsonb)
 * and every indexed or grouped id bounded. Platform ids are hashed rather than refused because the platform chose them,
 * not its user, and a refusal would only be retried; the original stays readable in `raw`.
 */
export function sanitizeEnvelope(envelope: Envelope): Envelope {
  // Almost every envelope is clean already: looked through without copying, and copied only to be repaired.
  const clean = holdsUnstorableText(envelope) ? sanitizeValue(envelope) : envelope;
  return {
    ...clean,
    deliveryId: boundedKey(clean.deliveryId),
    tenantId: boundedKey(clean.tenantId),
    conversationKey: boundedKey(clean.conversationKey),
    userId: boundedKey(clean.userId),
    ...(clean.contentKey === undefined ? {} : { contentKey: boundedKey(clean.contentKey) }),
  };
}
