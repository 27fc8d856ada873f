/** The one error mapper: every failure leaves as `{ error: { code, message } }` with the right status. */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { classifyDatabaseError } from '../db/index.ts';
import { AppError, DatabaseUnavailableError } from '../src/errors.ts';
import type { Logger } from '../src/ports.ts';
import { NormalizeError, VerificationError } from '../src/ports.ts';

export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

export function jsonError(c: Context, status: number, code: string, message: string, headers: Record<string, string> = {}) {
  for (const [k, v] of Object.entries(headers)) c.header(k, v);
  return c.json(errorBody(code, message), status as ContentfulStatusCode);
}

export function createErrorHandler(logger: Logger) {
  return function onError(err: Error, c: Context) {
    if (err instanceof AppError) return jsonError(c, err.status, err.code, err.message, err.headers);
    // A database error that did not pass through the Store's guard (so is not typed yet) is still a 503, not a 500.
    const fault = classifyDatabaseError(err);
    if (fault) {
      const unavailable = new DatabaseUnavailableError(
        fault,
        `The database is ${fault === 'down' ? 'unreachable' : 'busy'}; nothing was stored. Retry in 5 s`,
        5,
        err,
      );
      return jsonError(c, 503, unavailable.code, unavailable.message, unavailable.headers);
    }
    if (err instanceof VerificationError) return jsonError(c, 401, err.code, err.message);
    if (err instanceof NormalizeError) return jsonError(c, err.status, err.code, err.message);
    if (err instanceof HTTPException) return jsonError(c, err.status, 'http_error', err.message || 'Request failed');
    logger.error({ err, path: c.req.path }, 'unhandled error');
    return jsonError(c, 500, 'internal', 'Internal error; the server log has the details');
  };
}
