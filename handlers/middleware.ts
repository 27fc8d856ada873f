/** Request guards as factories: body limit, content type, admin bearer token, request metrics. */
import { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { Metrics } from '../src/metrics.ts';
import { findUnstorableText, jsonDepthExceeds, MAX_JSON_DEPTH } from '../src/sanitize.ts';
import { jsonError } from './errors.ts';

export const MAX_BODY_BYTES = 1024 * 1024;

/** How much of an oversized body is read and thrown away so the 413 arrives on a connection that stays usable. */
export const MAX_DISCARD_BYTES = 8 * 1024 * 1024;

/** A body read to its end (its chunks kept only up to the limit), or given up on past the discard bound. */
type BodyRead = { size: number; chunks: Uint8Array[] } | 'too_large';

/** Reads a web stream until done, keeping at most `maxSize` bytes and giving up past `maxSize + maxDiscard`. */
async function readStream(stream: ReadableStream<Uint8Array>, maxSize: number, maxDiscard: number): Promise<BodyRead> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { size, chunks };
    size += value.byteLength;
    if (size > maxSize + maxDiscard) {
      reader.releaseLock();
      return 'too_large';
    }
    if (size <= maxSize) chunks.push(value);
  }
}

/** `readStream` on a Node request, from its own events. */
function readIncoming(incoming: IncomingMessage, maxSize: number, maxDiscard: number): Promise<BodyRead> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const settle = (finish: () => void) => {
      incoming.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      finish();
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > maxSize + maxDiscard) {
        incoming.pause();
        settle(() => resolve('too_large'));
      } else if (size <= maxSize) chunks.push(chunk);
    };
    const onEnd = () => settle(() => resolve({ size, chunks }));
    const onError = (err: Error) => settle(() => reject(err));
    const onClose = () =>
      settle(() => (incoming.readableEnded ? resolve({ size, chunks }) : reject(new Error('the client closed the connection before its request body ended'))));
    incoming.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/**
 * 413 for a body over `maxSize`, read here (bounded) so handlers get it buffered. The client must see the 413, not
 * a reset: an oversized body of up to MAX_DISCARD_BYTES more is read to its end and discarded, so a keep-alive
 * connection stays in step; beyond that the answer says `Connection: close` and the server closes after sending it.
 *
 * Under @hono/node-server the body is read from the Node request itself and the bytes go to `c.req`'s body cache,
 * where `c.req.arrayBuffer()`, `text()`, `json()` and `parseBody()` find them: asking for the request's web stream
 * builds a full fetch `Request` and a `ReadableStream`, and a buffered copy of the request one more `Request`, which
 * together cost more CPU than storing the event.
 */
export function limitBody(maxSize = MAX_BODY_BYTES, maxDiscard = MAX_DISCARD_BYTES): MiddlewareHandler {
  const tooLarge = (c: Context, reusable: boolean) =>
    jsonError(c, 413, 'payload_too_large', `Request body is over ${maxSize} bytes; send at most ${maxSize} bytes`, reusable ? {} : { Connection: 'close' });
  return async function limitBodySize(c, next) {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
    const stream = incoming instanceof IncomingMessage ? undefined : c.req.raw.body;
    if (!(incoming instanceof IncomingMessage) && !stream) return next();
    const declared = c.req.raw.headers.has('transfer-encoding') ? undefined : c.req.raw.headers.get('content-length');
    // A declared size over both bounds is refused unread.
    if (declared && Number(declared) > maxSize + maxDiscard) return tooLarge(c, false);
    const read = incoming instanceof IncomingMessage ? await readIncoming(incoming, maxSize, maxDiscard) : await readStream(stream!, maxSize, maxDiscard);
    if (read === 'too_large') return tooLarge(c, false);
    if (read.size > maxSize) return tooLarge(c, true);
    // Copied into a buffer of its own: Node's chunks may be views into a larger shared one.
    const body = new Uint8Array(read.size);
    let at = 0;
    for (const chunk of read.chunks) {
      body.set(chunk, at);
      at += chunk.byteLength;
    }
    (c.req.bodyCache as Record<string, Promise<unknown>>).arrayBuffer = Promise.resolve(body.buffer);
    await next();
  };
}

/** The 415 answer when the request's media type is not one of `types` (parameters such as charset are ignored). */
export function unsupportedMediaType(c: Context, types: readonly string[]): Response | undefined {
  const media = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (types.includes(media)) return undefined;
  return jsonError(c, 415, 'unsupported_media_type', `Content-Type must be ${types.join(' or ')}, got ${media || 'none'}`);
}

/** 415 unless the request's media type is one of `types`. */
export function requireContentType(...types: string[]): MiddlewareHandler {
  return async function contentType(c, next) {
    const refused = unsupportedMediaType(c, types);
    if (refused) return refused;
    await next();
  };
}

/** The 400 for a JSON text nested deeper than MAX_JSON_DEPTH, or undefined. Checked on the raw text, before any parser recurses. */
export function tooDeep(c: Context, text: string): Response | undefined {
  if (!jsonDepthExceeds(text)) return undefined;
  return jsonError(c, 400, 'too_deep', `JSON is nested more than ${MAX_JSON_DEPTH} levels deep; send a flatter document`);
}

/**
 * Admin API input the database cannot store (a NUL, a lone UTF-16 surrogate) is refused with 400 `invalid_text`
 * before any handler runs: its sender can fix it, and a repaired copy would not be what was asked for. JSON bodies
 * are also bounded in depth here. Handlers parse the body again; it is at most 1 MiB.
 */
export function refuseUnstorableInput(): MiddlewareHandler {
  return async function unstorableInput(c, next) {
    const where = findUnstorableText({ path: c.req.path, query: c.req.queries() });
    if (where) return jsonError(c, 400, 'invalid_text', `${where} holds a NUL character or a lone UTF-16 surrogate; send valid Unicode text`);
    if ((c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase() === 'application/json') {
      const text = await c.req.text();
      const deep = tooDeep(c, text);
      if (deep) return deep;
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return next(); // malformed JSON: the handler's parser answers 400 malformed_json
      }
      const field = findUnstorableText(body);
      if (field) return jsonError(c, 400, 'invalid_text', `${field} holds a NUL character or a lone UTF-16 surrogate; send valid Unicode text`);
    }
    await next();
  };
}

/** `Authorization: Bearer <ADMIN_TOKEN>`; `check` compares hashes in constant time (src/admin-token.ts). */
export function adminAuth(check: (token: string) => Promise<boolean>): MiddlewareHandler {
  return async function requireAdmin(c, next) {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    // Signed in to the console instead (handlers/session.ts checked the cookie and its CSRF token).
    if (!header && c.get('consoleSession')) return next();
    if (!match) return jsonError(c, 401, 'unauthorized', 'Missing bearer token: send Authorization: Bearer $ADMIN_TOKEN', { 'WWW-Authenticate': 'Bearer' });
    if (!(await check(match[1]!.trim()))) {
      return jsonError(
        c,
        401,
        'unauthorized',
        'Invalid bearer token: use ADMIN_TOKEN, or the token printed when it was generated (lost it? run `npx switchboard admin-token rotate`)',
        {
          'WWW-Authenticate': 'Bearer error="invalid_token"',
        },
      );
    }
    await next();
  };
}

/** Counts requests by matched route pattern (not raw path, which would explode label cardinality). */
export function countRequests(metrics: Metrics): MiddlewareHandler {
  return async function count(c, next) {
    await next();
    // The last matched route is the handler; a request that matched only middleware has no route.
    const last = routePath(c, -1);
    const route = c.res.status === 404 && (!last || last === '/*') ? 'unmatched' : last || 'unmatched';
    metrics.countRequest(c.req.method, route, c.res.status);
  };
}
