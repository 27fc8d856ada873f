import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from './support/databases.ts';
import { signedHook, startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(databaseKinds)('admin API paging, conversations and round trips on %s', (kind) => {
  let sb: TestSwitchboard;
  beforeAll(async () => {
    sb = await startTestSwitchboard(kind, { RATE_LIMIT_BURST: '1000' });
  });
  afterAll(async () => sb?.close());

  /** Every page of a list, following next_cursor until it is null. */
  async function walk(path: string, field: 'executions' | 'conversations', limit: number) {
    const pages: any[][] = [];
    let cursor: string | null = null;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const res = await sb.api('GET', `${path}${sep}limit=${limit}${cursor ? `&before=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body).toHaveProperty('next_cursor');
      pages.push(res.body[field]);
      cursor = res.body.next_cursor;
      expect(pages.length).toBeLessThan(100);
    } while (cursor);
    return pages;
  }

  it('pages executions with a cursor: no duplicate, no gap, newest first, null at the end', async () => {
    // Sent together, so some rows share a millisecond: the cursor must still tell them apart.
    const posted = await Promise.all(
      Array.from({ length: 12 }, (_, i) => sb.api('POST', '/api/messages', { text: `paging message ${i}`, user_id: `pager-${i}`, conversation_id: 'paging' })),
    );
    const ids = posted.map((p) => p.body.execution_id as string);

    const pages = await walk('/api/executions?q=paging%20message', 'executions', 5);
    expect(pages.map((p) => p.length)).toEqual([5, 5, 2]);
    const walked = pages.flat().map((e) => e.id);
    expect(new Set(walked).size).toBe(12);
    expect([...walked].sort()).toEqual([...ids].sort());

    const all = await sb.api('GET', '/api/executions?q=paging%20message&limit=500');
    expect(all.body.next_cursor).toBeNull();
    expect(all.body.executions.map((e: any) => e.id)).toEqual(walked);
    const times = all.body.executions.map((e: any) => Date.parse(e.created_at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it('tells apart rows within one millisecond, and rows with the very same time, by microseconds and id', async () => {
    const posted = await Promise.all(Array.from({ length: 5 }, (_, i) => sb.api('POST', '/api/messages', { text: `micro ${i}`, user_id: `micro-${i}` })));
    const ids = posted.map((p) => p.body.execution_id as string);
    // Three share a millisecond; two of those share the microsecond too, so only the id orders them.
    const times = [
      '2020-01-01 00:00:00.123001+00',
      '2020-01-01 00:00:00.123002+00',
      '2020-01-01 00:00:00.123002+00',
      '2020-01-01 00:00:00.124+00',
      '2020-01-01 00:00:00.122999+00',
    ];
    for (const [i, id] of ids.entries()) {
      await sb.opened.handle.db.execute(sql`update executions set created_at = ${times[i]}::timestamptz where id = ${id}`);
    }
    const pages = await walk('/api/executions?until=2020-01-02T00:00:00Z', 'executions', 1);
    expect(pages.flat().map((e) => e.id)).toEqual([ids[3], ...[ids[1], ids[2]].sort().reverse(), ids[0], ids[4]]);
  });

  it('keeps the other filters alongside the cursor, and empty values count as unset', async () => {
    const res = await sb.api('GET', '/api/executions?status=&channel=web&agent=&since=&until=&q=paging%20message&before=&limit=3');
    expect(res.status).toBe(200);
    expect(res.body.executions).toHaveLength(3);
    expect(res.body.executions.every((e: any) => e.channel === 'web')).toBe(true);
    const next = await sb.api('GET', `/api/executions?channel=slack&q=paging%20message&before=${res.body.next_cursor}`);
    expect(next.body).toEqual({ executions: [], next_cursor: null });
  });

  it('filters executions by time: since is inclusive, until exclusive', async () => {
    const early = await sb.api('POST', '/api/messages', { text: 'timeline early', user_id: 'clock' });
    await pause(30);
    const boundary = new Date().toISOString();
    await pause(30);
    const late = await sb.api('POST', '/api/messages', { text: 'timeline late', user_id: 'clock' });

    const after = await sb.api('GET', `/api/executions?q=timeline&since=${boundary}`);
    expect(after.body.executions.map((e: any) => e.id)).toEqual([late.body.execution_id]);
    const before = await sb.api('GET', `/api/executions?q=timeline&until=${encodeURIComponent(boundary)}`);
    expect(before.body.executions.map((e: any) => e.id)).toEqual([early.body.execution_id]);
    // An unencoded "+02:00" arrives as " 02:00" and still means the same instant.
    const shifted = new Date(Date.parse(boundary) + 2 * 3600_000).toISOString().replace('Z', '+02:00');
    const plus = await sb.api('GET', `/api/executions?q=timeline&since=${shifted}`);
    expect(plus.body.executions.map((e: any) => e.id)).toEqual([late.body.execution_id]);
  });

  it('searches input and output text, with % and _ taken literally', async () => {
    const literal = await sb.api('POST', '/api/messages?wait=1', { text: 'Deal: 50%_off for zebra customers', user_id: 'shop' });
    await sb.api('POST', '/api/messages?wait=1', { text: 'Deal: 50 percent off for zebra customers', user_id: 'other-shop' });
    const found = await sb.api('GET', `/api/executions?q=${encodeURIComponent('50%_off')}`);
    expect(found.body.executions.map((e: any) => e.id)).toEqual([literal.body.execution_id]);
    expect((await sb.api('GET', '/api/executions?q=ZEBRA')).body.executions).toHaveLength(2);

    // The reply of `help` names the commands; the question does not.
    const help = await sb.api('POST', '/api/messages?wait=1', { text: 'help', user_id: 'searcher' });
    expect(help.body.reply.text).toMatch(/summarize/);
    const byReply = await sb.api('GET', `/api/executions?agent=help&q=summarize&limit=500`);
    expect(byReply.body.executions.map((e: any) => e.id)).toContain(help.body.execution_id);
  });

  it.each([
    ['a cursor that is not one', 'before=not-a-cursor', /before: must be a next_cursor/],
    ['a time without a zone', 'since=2026-01-31T09:00', /since: must be an ISO 8601 time/],
    ['a date that does not exist', 'until=2026-02-31T00:00:00Z', /until:/],
    ['a search over 200 characters', `q=${'x'.repeat(201)}`, /q: must be at most 200/],
    ['a limit over 500', 'limit=501', /limit:/],
  ])('refuses %s with 400', async (_, query, message) => {
    for (const path of ['/api/executions', '/api/conversations']) {
      if (path === '/api/conversations' && /since|until/.test(query)) continue;
      const res = await sb.api('GET', `${path}?${query}`);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(message) });
    }
  });

  it('lists conversations newest first, by channel and search, paged with a cursor', async () => {
    for (const key of ['list-a', 'list-b', 'list-c']) {
      await sb.api('POST', '/api/messages?wait=1', { text: `walrus report for ${key}`, user_id: 'lister', conversation_id: key });
    }
    await sb.api('POST', '/api/messages?wait=1', { text: 'a second walrus line', user_id: 'lister', conversation_id: 'list-a' });

    const pages = await walk('/api/conversations?channel=web&q=walrus', 'conversations', 2);
    expect(pages.map((p) => p.length)).toEqual([2, 1]);
    const listed = pages.flat();
    expect(listed.map((c) => c.conversation_key)).toEqual(['list-c', 'list-b', 'list-a']);
    expect(listed[2]).toMatchObject({ channel: 'web', tenant_id: 'web', message_count: 4, id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(listed[0].message_count).toBe(2);
    expect(Date.parse(listed[2].last_message_at)).toBeGreaterThanOrEqual(Date.parse(listed[2].created_at));

    expect((await sb.api('GET', '/api/conversations?q=list-b')).body.conversations.map((c: any) => c.conversation_key)).toEqual(['list-b']);
    expect((await sb.api('GET', '/api/conversations?channel=slack&q=walrus')).body).toEqual({ conversations: [], next_cursor: null });
  });

  it('continues a conversation with the conversation_id a response returned', async () => {
    const first = await sb.api('POST', '/api/messages?wait=1', { text: 'The billing deploy failed because the migration timed out.', user_id: 'newcomer' });
    expect(first.status).toBe(200);
    const id = first.body.conversation_id;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const second = await sb.api('POST', '/api/messages?wait=1', { text: 'summarize', user_id: 'newcomer', conversation_id: id });
    expect(second.body.conversation_id).toBe(id);
    // The summary can only mention the migration if the agent saw the first message in its history.
    expect(second.body.reply.text).toMatch(/migration/i);

    const conversation = await sb.api('GET', `/api/conversations/${id}`);
    expect(conversation.body.messages.map((m: any) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(conversation.body.messages[0].text).toMatch(/billing deploy failed/);
  });

  it("keeps a client's own key working, interchangeably with the returned id", async () => {
    const first = await sb.api('POST', '/api/messages?wait=1', {
      text: 'The cache warmer crashed at noon.',
      user_id: 'keyed',
      conversation_id: 'client-key-7',
    });
    const byKey = await sb.api('POST', '/api/messages?wait=1', { text: 'It restarted by itself.', user_id: 'keyed', conversation_id: 'client-key-7' });
    const byId = await sb.api('POST', '/api/messages?wait=1', {
      text: 'summarize',
      user_id: 'keyed',
      conversation_id: first.body.conversation_id.toUpperCase(),
    });
    expect(new Set([first, byKey, byId].map((r) => r.body.conversation_id)).size).toBe(1);
    expect(byId.body.reply.text).toMatch(/cache warmer/i);
    const conversation = await sb.api('GET', `/api/conversations/${first.body.conversation_id}`);
    expect(conversation.body).toMatchObject({ conversation_key: 'client-key-7' });
    expect(conversation.body.messages).toHaveLength(6);
  });

  it("does not let a web message join another channel's conversation by its id", async () => {
    const hook = await sb.app.request('/hooks/ci', signedHook({ text: 'build 991 failed on main', conversation_id: 'builds' }));
    expect(hook.status).toBe(202);
    const listed = await sb.api('GET', '/api/conversations?channel=hooks&q=builds');
    const hookConversation = listed.body.conversations[0].id;

    const web = await sb.api('POST', '/api/messages?wait=1', { text: 'hello', user_id: 'outsider', conversation_id: hookConversation });
    expect(web.status).toBe(200);
    expect(web.body.conversation_id).not.toBe(hookConversation);
    const own = await sb.api('GET', `/api/conversations/${web.body.conversation_id}`);
    expect(own.body).toMatchObject({ channel: 'web', conversation_key: hookConversation });
    expect((await sb.api('GET', `/api/conversations/${hookConversation}`)).body.messages.some((m: any) => m.text === 'hello')).toBe(false);
  });
});

describe('security headers on the dashboard', () => {
  let sb: TestSwitchboard;
  beforeAll(async () => {
    sb = await startTestSwitchboard('pglite');
  });
  afterAll(async () => sb?.close());

  function expectHeaders(headers: Headers) {
    const csp = headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/(^|;)\s*script-src 'self'(;|$)/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(csp).toMatch(/default-src 'self'/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(headers.get('x-content-type-options')).toBe('nosniff');
    expect(headers.get('referrer-policy')).toBe('no-referrer');
    expect(headers.get('x-frame-options')).toBe('DENY');
  }

  it('serves GET / with a CSP that allows no inline script or style, and the page has none', async () => {
    const res = await sb.app.request('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expectHeaders(res.headers);
    expect(res.headers.get('content-security-policy')).toMatch(/(^|;)\s*style-src 'self'(;|$)/);
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/i);
    expect(html).not.toMatch(/<style/i);
    expect(html).not.toMatch(/\s(on[a-z]+|style)=/i);
  });

  it('serves the page scripts under /console/js/ and the style sheet as /console.css, under the same headers', async () => {
    for (const name of ['common', 'overview', 'agents', 'lists', 'detail', 'access', 'playground']) {
      const res = await sb.app.request(`/console/js/${name}.js`);
      expect(res.status, name).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
      expectHeaders(res.headers);
    }
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the text is the script's own template literal
    expect(await (await sb.app.request('/console/js/playground.js')).text()).toContain('fetch(`/api/executions/${id}/stream`');
    expect((await sb.app.request('/console/js/..%2Fconsole.css')).status).toBe(404);
    const css = await sb.app.request('/console.css');
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expectHeaders(css.headers);
  });

  it('sends the same headers on JSON answers and errors', async () => {
    expectHeaders((await sb.app.request('/healthz')).headers);
    expectHeaders((await sb.app.request('/api/executions')).headers);
  });
});
