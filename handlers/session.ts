/**
 * Console sessions: the admin token is exchanged once for a signed, expiring, HttpOnly cookie, so the token never
 * sits in a URL or in the browser's storage. Nothing is stored server-side: the cookie carries its expiry and a CSRF
 * token, signed with HMAC under a key derived from the admin token's hash, so rotating the token signs everyone out.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { jsonError } from './errors.ts';

export const SESSION_COOKIE = 'sb_session';
/** The header a cookie-authenticated, state-changing request repeats its session's CSRF token in (double submit). */
export const CSRF_HEADER = 'x-csrf-token';
export const SESSION_SECONDS = 12 * 60 * 60;

export type ConsoleSession = { csrf: string; expiresAt: Date };

declare module 'hono' {
  interface ContextVariableMap {
    /** Set when /api/* was called with a valid console session cookie (and its CSRF token where one is needed). */
    consoleSession: ConsoleSession;
  }
}

export type SessionOptions = {
  /** The current admin token hash (AdminTokenCheck.currentHash). */
  keyMaterial(): Promise<string>;
  /** PUBLIC_URL: behind a TLS proxy the request itself arrives over plain HTTP, yet the cookie must be Secure. */
  publicUrl?: string;
  now?(): number;
};

export type Sessions = ReturnType<typeof createSessions>;

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function createSessions(opts: SessionOptions) {
  const now = opts.now ?? Date.now;
  const sign = async (payload: string) => {
    const key = createHmac('sha256', await opts.keyMaterial())
      .update('switchboard console session')
      .digest();
    return createHmac('sha256', key).update(payload).digest('base64url');
  };
  const secure = (c: Context) => new URL(opts.publicUrl ?? c.req.url).protocol === 'https:';

  return {
    /** The session the request's cookie carries, if it is signed under the current key and not expired. */
    async read(c: Context): Promise<ConsoleSession | undefined> {
      const [expires, csrf, mac, extra] = (getCookie(c, SESSION_COOKIE) ?? '').split('.');
      if (!expires || !csrf || !mac || extra !== undefined || !/^\d+$/.test(expires)) return undefined;
      if (!same(mac, await sign(`${expires}.${csrf}`))) return undefined;
      const expiresAt = new Date(Number(expires) * 1000);
      return expiresAt.getTime() > now() ? { csrf, expiresAt } : undefined;
    },
    /** Starts a session: sets the cookie and returns it (its CSRF token goes to the page, never the token). */
    async issue(c: Context): Promise<ConsoleSession> {
      const expires = Math.floor(now() / 1000) + SESSION_SECONDS;
      const csrf = randomBytes(18).toString('base64url');
      setCookie(c, SESSION_COOKIE, `${expires}.${csrf}.${await sign(`${expires}.${csrf}`)}`, {
        httpOnly: true,
        sameSite: 'Strict',
        secure: secure(c),
        path: '/',
        maxAge: SESSION_SECONDS,
      });
      return { csrf, expiresAt: new Date(expires * 1000) };
    },
    clear(c: Context): void {
      deleteCookie(c, SESSION_COOKIE, { path: '/', secure: secure(c), httpOnly: true, sameSite: 'Strict' });
    },
    /** Whether `presented` is the session's CSRF token (compared in constant time). */
    csrfMatches(session: ConsoleSession, presented: string | undefined): boolean {
      return presented !== undefined && same(presented, session.csrf);
    },
  };
}

/** The request's Origin, when it sent one, is this server's (or PUBLIC_URL's): a page elsewhere cannot ride the cookie. */
export function sameOrigin(c: Context, publicUrl?: string): boolean {
  const origin = c.req.header('origin');
  if (origin === undefined) return true; // same-origin GETs and non-browser clients send none; the CSRF token still must match
  return origin === new URL(c.req.url).origin || (publicUrl !== undefined && origin === new URL(publicUrl).origin);
}

/**
 * /api/* with a console session cookie instead of a bearer token. A bearer header, when present, is what counts
 * (adminAuth checks it). State-changing requests must come from this origin and repeat the session's CSRF token in
 * X-CSRF-Token; SameSite=Strict already keeps the cookie off other sites' requests, this is the second lock.
 */
export function sessionAuth(sessions: Sessions, publicUrl?: string): MiddlewareHandler {
  return async function consoleSessionAuth(c, next) {
    if (c.req.header('authorization')) return next();
    const session = await sessions.read(c);
    if (!session) return next(); // adminAuth answers 401
    if (!/^(GET|HEAD|OPTIONS)$/.test(c.req.method)) {
      if (!sameOrigin(c, publicUrl))
        return jsonError(c, 403, 'csrf', 'This request came from another origin; the console session cookie only works from its own pages');
      if (!sessions.csrfMatches(session, c.req.header(CSRF_HEADER))) {
        return jsonError(c, 403, 'csrf', `A request made with the console session cookie must repeat its CSRF token in ${CSRF_HEADER}`);
      }
    }
    c.set('consoleSession', session);
    await next();
  };
}
