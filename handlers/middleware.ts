/** Request guards as factories: body limit, content type, admin bearer token, request metrics. */
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { routePath } from 'hono/route';
import type { Metrics } from '../src/metrics.ts';
import { jsonError } from './errors.ts';

export const MAX_BODY_BYTES = 1024 * 1024;

export function limitBody(maxSize = MAX_BODY_BYTES): MiddlewareHandler {
  return bodyLimit({
    maxSize,
    onError: (c) => jsonError(c, 413, 'payload_too_large', `Request body is over ${maxSize} bytes`),
  });
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

/** `Authorization: Bearer <ADMIN_TOKEN>`; `check` compares hashes in constant time (src/admin-token.ts). */
export function adminAuth(check: (token: string) => Promise<boolean>): MiddlewareHandler {
  return async function requireAdmin(c, next) {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match) return jsonError(c, 401, 'unauthorized', 'Missing bearer token: send Authorization: Bearer $ADMIN_TOKEN', { 'WWW-Authenticate': 'Bearer' });
    if (!(await check(match[1]!.trim()))) {
      return jsonError(c, 401, 'unauthorized', 'Invalid bearer token: use ADMIN_TOKEN, or the token printed when it was generated (lost it? run `npx switchboard admin-token rotate`)', {
        'WWW-Authenticate': 'Bearer error="invalid_token"',
      });
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
    metrics.httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
  };
}
