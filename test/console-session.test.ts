import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN_CACHE_MS, hashToken } from '../src/admin-token.ts';
import { databaseKinds } from './support/databases.ts';
import { ADMIN_TOKEN, startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The `name=value` part of a Set-Cookie header, to send back as Cookie. */
const cookieOf = (res: Response) => (res.headers.get('set-cookie') ?? '').split(';')[0]!;

async function signIn(sb: TestSwitchboard, token = ADMIN_TOKEN) {
  const res = await sb.app.request('/console/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  return { res, cookie: cookieOf(res), body: (await res.json()) as any };
}

describe.each(databaseKinds)('console sign-in, session cookie and CSRF on %s', (kind) => {
  let sb: TestSwitchboard;
  beforeAll(async () => {
    sb = await startTestSwitchboard(kind);
  });
  afterAll(async () => sb?.close());

  it('exchanges the admin token once for an HttpOnly, SameSite=Strict cookie that holds no token', async () => {
    const wrong = await signIn(sb, 'not-the-token');
    expect(wrong.res.status).toBe(401);
    expect(wrong.res.headers.get('set-cookie')).toBeNull();

    const { res, body, cookie } = await signIn(sb);
    expect(res.status).toBe(200);
    expect(body.csrf_token).toMatch(/^[\w-]{20,}$/);
    const set = res.headers.get('set-cookie')!;
    expect(set).toMatch(/HttpOnly/);
    expect(set).toMatch(/SameSite=Strict/);
    expect(set).toMatch(/Path=\//);
    expect(set).not.toMatch(/Secure/); // plain http here; see the PUBLIC_URL case below
    expect(cookie).toMatch(/^sb_session=/);
    expect(set).not.toContain(ADMIN_TOKEN);
  });

  it('lets the cookie read /api/*; a state-changing request also needs the CSRF token, from this origin', async () => {
    const { cookie, body } = await signIn(sb);
    expect((await sb.app.request('/api/executions')).status).toBe(401);
    expect((await sb.app.request('/api/executions', { headers: { cookie } })).status).toBe(200);
    expect((await sb.app.request('/api/overview', { headers: { cookie } })).status).toBe(200);
    expect((await sb.app.request('/api/overview')).status).toBe(401);
    expect((await sb.app.request('/api/conversations/00000000-0000-0000-0000-000000000000/feedback')).status).toBe(401);

    const post = (headers: Record<string, string>) =>
      sb.app.request('/api/messages', {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ text: 'help', user_id: 'csrf-test' }),
      });
    const without = await post({});
    expect(without.status).toBe(403);
    expect(((await without.json()) as any).error.code).toBe('csrf');
    expect((await post({ 'x-csrf-token': 'guessed-token-000000000000' })).status).toBe(403);
    expect((await post({ 'x-csrf-token': body.csrf_token, origin: 'https://evil.example' })).status).toBe(403);
    expect((await post({ 'x-csrf-token': body.csrf_token, origin: 'http://localhost' })).status).toBe(202);
    expect((await post({ 'x-csrf-token': body.csrf_token })).status).toBe(202);
  });

  it('answers bad sign-in bodies with JSON errors', async () => {
    const post = (body: string, type: string) => sb.app.request('/console/session', { method: 'POST', headers: { 'content-type': type }, body });
    expect((await post('{"token":', 'application/json')).status).toBe(400);
    const deep = await post(`{"token":${'['.repeat(5000)}${']'.repeat(5000)}}`, 'application/json');
    expect(deep.status).toBe(400);
    expect(((await deep.json()) as any).error.code).toBe('too_deep');
    expect((await post('[]', 'application/json')).status).toBe(401);
    expect((await post(ADMIN_TOKEN, 'text/csv')).status).toBe(415);
  });

  it('keeps bearer auth working for /api/*, with no CSRF token needed', async () => {
    const res = await sb.api('PATCH', '/api/agents/summarize', { enabled: true });
    expect(res.status).toBe(200);
  });

  it('refuses a tampered or foreign cookie', async () => {
    const { cookie } = await signIn(sb);
    const [expires, csrf, mac] = cookie.slice('sb_session='.length).split('.');
    const later = `sb_session=${Number(expires) + 86_400}.${csrf}.${mac}`;
    expect((await sb.app.request('/api/executions', { headers: { cookie: later } })).status).toBe(401);
    expect((await sb.app.request('/api/executions', { headers: { cookie: `sb_session=${expires}.${csrf}` } })).status).toBe(401);
  });

  it('signs in from the form (same origin only) and lands on the page it came from', async () => {
    const form = (origin: string) =>
      sb.app.request('/console/session', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin },
        body: new URLSearchParams({ token: ADMIN_TOKEN, next: '/console/agents' }).toString(),
      });
    expect((await form('https://evil.example')).status).toBe(403);
    const ok = await form('http://localhost');
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/console/agents');
    expect(cookieOf(ok)).toMatch(/^sb_session=/);

    const offsite = await sb.app.request('/console/session', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost' },
      body: new URLSearchParams({ token: ADMIN_TOKEN, next: '//evil.example/' }).toString(),
    });
    expect(offsite.headers.get('location')).toBe('/');
  });

  it('shows the sign-in form without a session, and the console with its CSRF token with one', async () => {
    const anonymous = await (await sb.app.request('/console/executions')).text();
    expect(anonymous).toContain('name="token"');
    expect(anonymous).toContain('value="/console/executions"');
    expect(anonymous).not.toContain('csrf-token');

    const { cookie, body } = await signIn(sb);
    for (const path of ['/', '/console/agents', '/console/executions', '/console/conversations', '/console/access', '/console/playground']) {
      const res = await sb.app.request(path, { headers: { cookie } });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const html = await res.text();
      expect(html).toContain(`<meta name="csrf-token" content="${body.csrf_token}">`);
      expect(html).toContain('aria-current="page"');
    }
  });

  it('signs out in one form post carrying the CSRF token, which clears the cookie', async () => {
    const { cookie, body } = await signIn(sb);
    const out = (csrf: string) =>
      sb.app.request('/console/sign-out', {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost' },
        body: new URLSearchParams({ csrf }).toString(),
      });
    expect((await out('wrong')).status).toBe(403);
    const res = await out(body.csrf_token);
    expect(res.status).toBe(303);
    expect(res.headers.get('set-cookie')).toMatch(/^sb_session=;.*Max-Age=0/);
  });
});

describe('console session behind an https PUBLIC_URL', () => {
  let sb: TestSwitchboard;
  beforeAll(async () => {
    sb = await startTestSwitchboard('pglite', { PUBLIC_URL: 'https://switchboard.example.com' });
  });
  afterAll(async () => sb?.close());

  it('marks the cookie Secure and accepts the public origin', async () => {
    const { res, cookie, body } = await signIn(sb);
    expect(res.headers.get('set-cookie')).toMatch(/Secure/);
    const post = await sb.app.request('/api/messages', {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': body.csrf_token, origin: 'https://switchboard.example.com' },
      body: JSON.stringify({ text: 'help', user_id: 'proxy' }),
    });
    expect(post.status).toBe(202);
  });
});

describe('rotating the admin token', () => {
  let sb: TestSwitchboard;
  beforeAll(async () => {
    sb = await startTestSwitchboard('pglite', { ADMIN_TOKEN: '' });
  });
  afterAll(async () => sb?.close());

  it('signs every console session out', async () => {
    const { cookie } = await signIn(sb, sb.createdAdminToken!);
    expect((await sb.app.request('/api/executions', { headers: { cookie } })).status).toBe(200);
    await sb.opened.store.putSetting('admin_token_sha256', hashToken('sb_a-new-token-after-rotation'));
    await pause(ADMIN_TOKEN_CACHE_MS + 100);
    expect((await sb.app.request('/api/executions', { headers: { cookie } })).status).toBe(401);
    const page = await (await sb.app.request('/', { headers: { cookie } })).text();
    expect(page).toContain('name="token"');
  });
});
