/**
 * The operator console: GET / (Overview) and /console/* pages, sign-in and sign-out, and the page's script and style
 * sheet. Pages need a console session (handlers/session.ts); without one they show the sign-in form.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Hono, type Context } from 'hono';
import { csrf } from 'hono/csrf';
import type { AdminTokenCheck } from '../../src/admin-token.ts';
import { jsonError } from '../errors.ts';
import { requireContentType, tooDeep } from '../middleware.ts';
import { sameOrigin, type Sessions } from '../session.ts';
import { consolePage, signInPage, type PageId } from './layout.ts';
import { AGENT_DAYS } from '../api/overview.ts';
import { accessBody, agentsBody, conversationBody, conversationsBody, executionBody, executionsBody, overviewBody, playgroundBody } from './pages.ts';

const STATIC = new URL('../static/', import.meta.url);
const STYLE = readFileSync(new URL('console.css', STATIC), 'utf8');
/** The page scripts (ES modules), read once: GET /console/js/<name>.js serves exactly these. */
const SCRIPTS = new Map(
  readdirSync(new URL('console/', STATIC))
    .filter((f) => f.endsWith('.js'))
    .map((f) => [f, readFileSync(new URL(`console/${f}`, STATIC), 'utf8')]),
);

export type ConsoleDeps = { sessions: Sessions; checkAdminToken: AdminTokenCheck; publicUrl?: string };

/** Where to go after signing in: a console page this server renders, never another site. */
function landing(next: unknown): string {
  return typeof next === 'string' && /^\/(console\/[\w/-]*)?$/.test(next) ? next : '/';
}

export function consoleRoutes(deps: ConsoleDeps) {
  const { sessions } = deps;
  const app = new Hono();
  // A sign-in or sign-out form posted from another site is refused: Origin or Sec-Fetch-Site must say it is ours.
  const ownForms = csrf({ origin: (_origin, c) => sameOrigin(c, deps.publicUrl) });

  app.get('/console/js/:file', (c) => {
    const script = SCRIPTS.get(c.req.param('file'));
    if (script === undefined) return jsonError(c, 404, 'not_found', `No console script ${c.req.param('file')}`);
    return c.body(script, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' });
  });
  app.get('/console.css', (c) => c.body(STYLE, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'no-cache' }));

  /** Exchanges the admin token (form field or JSON `token`) for the session cookie. */
  app.post('/console/session', ownForms, requireContentType('application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'), async (c) => {
    const isJson = (c.req.header('content-type') ?? '').startsWith('application/json');
    let body: Record<string, unknown>;
    if (isJson) {
      const text = await c.req.text();
      const deep = tooDeep(c, text);
      if (deep) return deep;
      try {
        body = Object(JSON.parse(text));
      } catch {
        return jsonError(c, 400, 'malformed_json', 'Request body is not valid JSON');
      }
    } else body = await c.req.parseBody();
    const token = typeof body.token === 'string' ? body.token.trim() : '';
    if (!token || !(await deps.checkAdminToken(token))) {
      if (isJson) return jsonError(c, 401, 'unauthorized', 'Invalid admin token: use ADMIN_TOKEN, or the token printed when it was generated');
      return c.html(signInPage('That is not the admin token. Lost it? Run npx switchboard admin-token rotate.'), 401);
    }
    const session = await sessions.issue(c);
    if (isJson) return c.json({ csrf_token: session.csrf, expires_at: session.expiresAt.toISOString() });
    return c.redirect(landing(body.next), 303);
  });

  /** One click: the header's form posts the session's CSRF token, and the cookie is cleared. */
  app.post('/console/sign-out', ownForms, async (c) => {
    const session = await sessions.read(c);
    const body = await c.req.parseBody();
    if (session && !sessions.csrfMatches(session, typeof body.csrf === 'string' ? body.csrf : c.req.header('x-csrf-token'))) {
      return jsonError(c, 403, 'csrf', 'Sign-out needs the CSRF token of the page it was sent from');
    }
    sessions.clear(c);
    return c.redirect('/', 303);
  });

  /** A page for a signed-in operator; anyone else gets the sign-in form (and comes back here after). */
  const page =
    (id: PageId, title: string, script: string, body: (c: Context) => ReturnType<typeof overviewBody>, data?: (c: Context) => Record<string, string>) =>
    async (c: Context) => {
      const session = await sessions.read(c);
      c.header('cache-control', 'no-store');
      if (!session) return c.html(signInPage(undefined, c.req.path));
      return c.html(consolePage({ page: id, title, script, csrf: session.csrf, body: body(c), data: data?.(c) }));
    };
  const id = (c: Context) => ({ id: c.req.param('id') ?? '' });

  app.get(
    '/',
    page('overview', 'Overview', 'overview', () => overviewBody()),
  );
  app.get(
    '/console/agents',
    page('agents', 'Agents', 'agents', () => agentsBody(AGENT_DAYS)),
  );
  app.get(
    '/console/executions',
    page('executions', 'Executions', 'lists', (c) => executionsBody(c.req.query())),
  );
  app.get(
    '/console/executions/:id',
    page('executions', 'Execution', 'detail', () => executionBody(), id),
  );
  app.get(
    '/console/conversations',
    page('conversations', 'Conversations', 'lists', (c) => conversationsBody(c.req.query())),
  );
  app.get(
    '/console/conversations/:id',
    page('conversations', 'Conversation', 'detail', () => conversationBody(), id),
  );
  app.get(
    '/console/access',
    page('access', 'Access', 'access', () => accessBody()),
  );
  app.get(
    '/console/playground',
    page('playground', 'Playground', 'playground', () => playgroundBody()),
  );
  return app;
}
