/**
 * Hostile input against every ingress route: each bad input, signed exactly as the platform would sign it, gets a
 * 4xx and stores nothing, or (platform text the database cannot hold) is stored sanitized. Never a 500, and the
 * process stays healthy: /healthz and a good request still work afterwards.
 */
import { serve, type ServerType } from '@hono/node-server';
import { sign } from '@octokit/webhooks-methods';
import { sql } from 'drizzle-orm';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../db/rows.ts';
import { boundedKey, findUnstorableText, jsonDepthExceeds, sanitizeText, sanitizeValue } from '../src/sanitize.ts';
import { BOT_USER, commandRequest, eventBody, slackRequest, startFakeSlack, type FakeSlack } from './fakes/slack-api.ts';
import {
  ALICE,
  BOT_TOKEN as TELEGRAM_TOKEN,
  messageUpdate,
  startFakeTelegram,
  telegramRequest,
  WEBHOOK_SECRET as TELEGRAM_SECRET,
  type FakeTelegram,
} from './fakes/telegram-api.ts';
import { ACCOUNT_SID, AUTH_TOKEN, inboundFields, PUBLIC_URL, startFakeTwilio, WHATSAPP_FROM, whatsappRequest, type FakeTwilio } from './fakes/twilio-api.ts';
import { startFakeGithub, type FakeGithub } from './fakes/github-api.ts';
import { BOT_TOKEN as SLACK_TOKEN, SIGNING_SECRET } from './fakes/slack-api.ts';
import { delivery, issueCommentEvent, pullRequestEvent, WEBHOOK_SECRET as GITHUB_SECRET } from './fixtures/github/events.ts';
import { databaseKinds } from './support/databases.ts';
import { ADMIN_TOKEN, HOOK_SECRET, signedHook, startTestSwitchboard, tableCounts, type TestSwitchboard } from './support/switchboard.ts';

const LONG = 'x'.repeat(6000);
const DEEP = `${'['.repeat(5000)}${']'.repeat(5000)}`;
const OVERSIZED = 'a'.repeat(2 * 1024 * 1024);

let seq = 0;
const uniq = () => `${Date.now().toString(36)}${++seq}`;

/** A message with `text`; `long` puts a 6,000-character value in every id the route's sender controls. */
type MessageOptions = { text: string; long?: boolean };

type Route = {
  name: string;
  path: string;
  message(o: MessageOptions): Promise<RequestInit> | RequestInit;
  /** The route's body with 5,000 levels of nesting where JSON can carry it, signed. */
  deep(): Promise<RequestInit> | RequestInit;
  /** A body that does not parse, signed. */
  malformed(): Promise<RequestInit> | RequestInit;
  /** A signed body that is not what its headers say (a mismatched GitHub event, a wrong shape elsewhere). */
  mismatched(): Promise<RequestInit> | RequestInit;
  /** The same route's request with a body of `body` and content type `type`, signed where signing does not depend on type. */
  withBody(body: string, type: string): Promise<RequestInit> | RequestInit;
  /** Platform input is repaired and stored; the admin API refuses what it cannot store. */
  platform: boolean;
};

const withDeep = (json: string) => json.replace(/}$/, `,"extra":${DEEP}}`);

function githubRequest(event: string, body: string, id = crypto.randomUUID()): Promise<RequestInit> {
  return sign(GITHUB_SECRET, body).then((signature) => ({
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'x-github-event': event, 'x-github-delivery': id, 'x-hub-signature-256': signature },
  }));
}

function apiRequest(body: string, type = 'application/json', headers: Record<string, string> = {}): RequestInit {
  return { method: 'POST', body, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': type, ...headers } };
}

function slackEvent(o: MessageOptions) {
  const id = uniq();
  return eventBody(
    {
      type: 'app_mention',
      user: o.long ? `U${LONG}` : 'U0ALICE01',
      text: `<@${BOT_USER}> ${o.text}`,
      ts: `1700003000.${String(++seq).padStart(6, '0')}`,
      channel: o.long ? `C${LONG}` : 'C0HOSTILE',
    },
    o.long ? `Ev${LONG}${id}` : `Ev${id}`,
  );
}

function telegramUpdate(o: MessageOptions) {
  const from = o.long ? { ...ALICE, username: `u${LONG}`, first_name: LONG } : ALICE;
  return messageUpdate(o.text, { from, updateId: 600_000_000 + ++seq });
}

function hookPayload(o: MessageOptions) {
  return o.long ? { text: o.text, conversation_id: LONG, user_id: LONG } : { text: o.text };
}

function routes(slack: () => FakeSlack): Route[] {
  return [
    {
      name: 'Slack Events API (JSON)',
      path: '/slack/events',
      platform: true,
      message: (o) => slackRequest(JSON.stringify(slackEvent(o)), 'application/json'),
      deep: () => slackRequest(withDeep(JSON.stringify(slackEvent({ text: 'deep' }))), 'application/json'),
      malformed: () => slackRequest('{"type":"event_callback",', 'application/json'),
      mismatched: () => slackRequest(JSON.stringify({ ...slackEvent({ text: 'x' }), event: 'not an event' }), 'application/json'),
      withBody: (body, type) => slackRequest(body, type),
    },
    {
      name: 'Slack slash command and interactivity (form)',
      path: '/slack/events',
      platform: true,
      message: (o) =>
        commandRequest({
          text: o.text,
          trigger_id: o.long ? `${LONG}${uniq()}` : `trigger.${uniq()}`,
          user_id: o.long ? `U${LONG}` : 'U0ALICE01',
          channel_id: o.long ? `C${LONG}` : 'C0CHAN001',
          response_url: slack().responseUrl(uniq()),
        }),
      deep: () => slackRequest(new URLSearchParams({ payload: `{"type":"block_actions","actions":${DEEP}}` }).toString(), 'application/x-www-form-urlencoded'),
      malformed: () => slackRequest(new URLSearchParams({ payload: '{"type":' }).toString(), 'application/x-www-form-urlencoded'),
      mismatched: () => slackRequest(new URLSearchParams({ payload: '["not","an","interaction"]' }).toString(), 'application/x-www-form-urlencoded'),
      withBody: (body, type) => slackRequest(body, type),
    },
    {
      name: 'Telegram',
      path: '/telegram/webhook',
      platform: true,
      message: (o) => telegramRequest(telegramUpdate(o)),
      deep: () => telegramRequest(null, { body: withDeep(JSON.stringify(telegramUpdate({ text: 'deep' }))) }),
      malformed: () => telegramRequest(null, { body: '{"update_id":' }),
      mismatched: () => telegramRequest({ update_id: 600_900_000 + ++seq, message: 'not a message' }),
      withBody: (body, type) => {
        const init = telegramRequest(null, { body });
        return { ...init, headers: { ...(init.headers as Record<string, string>), 'content-type': type } };
      },
    },
    {
      name: 'WhatsApp (Twilio)',
      path: '/whatsapp/webhook',
      platform: true,
      message: (o) => whatsappRequest(inboundFields(o.text, o.long ? { MessageSid: `SM${LONG}${uniq()}`, ProfileName: LONG } : {})),
      // A form field is text, not JSON: brackets in a message are just what the person typed.
      deep: () => whatsappRequest(inboundFields(DEEP)),
      // Not JSON but a form that is not one: signed over the fields it parses to, as Twilio signs.
      malformed: () => {
        const body = '%%%&&&==&Body=%E0%A4';
        return { ...whatsappRequest(Object.fromEntries(new URLSearchParams(body))), body };
      },
      mismatched: () => {
        const { From: _from, ...fields } = inboundFields('no sender');
        return whatsappRequest(fields);
      },
      withBody: (body, type) => ({ ...whatsappRequest(inboundFields('x')), body, headers: { 'content-type': type, 'x-twilio-signature': 'x' } }),
    },
    {
      name: 'GitHub',
      path: '/github/webhook',
      platform: true,
      message: async (o) => {
        const event = issueCommentEvent({ number: 7, body: `/ask ${o.text}`, sender: o.long ? `u${LONG}` : 'octocat' });
        return delivery(event, { id: o.long ? `${LONG}${uniq()}` : undefined });
      },
      deep: () => githubRequest('issue_comment', withDeep(JSON.stringify(issueCommentEvent({ number: 7, body: '/ask deep' }).payload))),
      malformed: () => githubRequest('issue_comment', '{"action":'),
      // The header says issue_comment; the signed body is a pull_request event.
      mismatched: () =>
        githubRequest(
          'issue_comment',
          JSON.stringify({ ...pullRequestEvent('opened', { number: 7, head: 'a'.repeat(40), base: 'b'.repeat(40) }).payload, action: 'created' }),
        ),
      withBody: async (body, type) => {
        const init = await githubRequest('issue_comment', body);
        return { ...init, headers: { ...(init.headers as Record<string, string>), 'content-type': type } };
      },
    },
    {
      name: 'Standard Webhooks hook',
      path: '/hooks/ci',
      platform: true,
      message: (o) => signedHook(hookPayload(o), o.long ? { id: `${LONG}${uniq()}` } : {}),
      deep: () => signedHook(undefined, { body: withDeep(JSON.stringify({ type: 'deep' })) }),
      malformed: () => signedHook(undefined, { body: '{"type":' }),
      mismatched: () => signedHook([1, 2, 3]),
      withBody: (body, type) => {
        const init = signedHook(undefined, { body });
        return { ...init, headers: { ...(init.headers as Record<string, string>), 'content-type': type } };
      },
    },
    {
      name: 'web API (/api/messages)',
      path: '/api/messages',
      platform: false,
      message: (o) =>
        apiRequest(
          JSON.stringify({ text: o.text, user_id: o.long ? LONG : 'web-user', ...(o.long ? { conversation_id: LONG } : {}) }),
          'application/json',
          o.long ? { 'idempotency-key': LONG } : {},
        ),
      deep: () => apiRequest(withDeep(JSON.stringify({ text: 'deep', user_id: 'web-user' }))),
      malformed: () => apiRequest('{"text":'),
      mismatched: () => apiRequest(JSON.stringify({ text: 42, user_id: ['web-user'] })),
      withBody: (body, type) => apiRequest(body, type),
    },
  ];
}

/** What a bad input must lead to on a route. */
type Outcome = { status: number; code?: string } | 'stored';

type BadInput = {
  name: string;
  request(route: Route): Promise<RequestInit> | RequestInit;
  expected(route: Route): Outcome;
  /** For an input stored sanitized: what the stored message and keys must look like. */
  check?(stored: StoredRow): void;
};

/** The newest message, and the longest value in any indexed or grouped id column of the pipeline's tables. */
type StoredRow = { text: string; longest: number };

const refusedByApi =
  (code: string) =>
  (route: Route): Outcome =>
    route.platform ? 'stored' : { status: 400, code };

const BAD_INPUTS: BadInput[] = [
  {
    name: 'a NUL character',
    request: (route) => route.message({ text: 'before\u0000after' }),
    expected: refusedByApi('invalid_text'),
    check: (row) => {
      expect(row.text).toContain('before\uFFFDafter');
      expect(row.text).not.toContain('\u0000');
    },
  },
  {
    name: 'a lone UTF-16 surrogate',
    request: (route) => route.message({ text: 'before\uD800after' }),
    expected: refusedByApi('invalid_text'),
    check: (row) => {
      expect(row.text).toContain('before\uFFFDafter');
      expect(findUnstorableText(row.text)).toBeUndefined();
    },
  },
  {
    name: 'JSON nested 5,000 deep',
    request: (route) => route.deep(),
    // WhatsApp posts a form: the brackets are a message's text, stored as typed.
    expected: (route) => (route.path === '/whatsapp/webhook' ? 'stored' : { status: 400, code: 'too_deep' }),
    check: (row) => expect(row.text).toBe(DEEP),
  },
  {
    name: '6,000-character ids',
    request: (route) => route.message({ text: 'long ids', long: true }),
    expected: (route) => (route.platform ? 'stored' : { status: 400, code: 'invalid_request' }),
    // Hashed into the key before any index sees it; the original stays in the raw payload.
    check: (row) => expect(row.longest).toBeLessThanOrEqual(256),
  },
  {
    name: 'a body that is not what its headers say',
    request: (route) => route.mismatched(),
    expected: (route) => {
      switch (route.path) {
        case '/github/webhook':
          return { status: 400, code: 'event_mismatch' };
        case '/hooks/ci':
        case '/whatsapp/webhook':
          return { status: 400 };
        case '/api/messages':
          return { status: 400, code: 'invalid_request' };
        default:
          return { status: -1 }; // answered without storing; the status is the platform's usual ack or a 400
      }
    },
  },
  {
    name: 'an oversized body',
    request: (route) => route.withBody(OVERSIZED, route.path === '/whatsapp/webhook' ? 'application/x-www-form-urlencoded' : 'application/json'),
    expected: () => ({ status: 413, code: 'payload_too_large' }),
  },
  {
    name: 'malformed JSON',
    request: (route) => route.malformed(),
    expected: (route) => ({ status: route.path === '/whatsapp/webhook' ? 400 : 400 }),
  },
  {
    name: 'the wrong content type',
    request: (route) => route.withBody('hello', 'text/plain'),
    expected: () => ({ status: 415, code: 'unsupported_media_type' }),
  },
];

/**
 * Rows only ingress writes: deliveries, conversations, executions and the users' messages. (Replies the worker
 * stores meanwhile for earlier cases are not what a refused request could have written.)
 */
async function ingressCounts(sb: TestSwitchboard): Promise<Record<string, number>> {
  const rows = rowsOf<Record<string, number>>(
    await sb.opened.handle.db.execute(sql`
      select (select count(*) from deliveries)::int as deliveries, (select count(*) from conversations)::int as conversations,
        (select count(*) from executions)::int as executions, (select count(*) from messages where role = 'user')::int as messages`),
  );
  return rows[0]!;
}

async function latestStored(sb: TestSwitchboard): Promise<StoredRow> {
  const rows = rowsOf<StoredRow>(
    await sb.opened.handle.db.execute(sql`
      select (select text from messages where role = 'user' order by created_at desc limit 1) as text,
        greatest(
          (select max(length(delivery_id)) from deliveries),
          (select max(greatest(length(conversation_key), length(tenant_id))) from conversations),
          (select max(greatest(length(tenant_id), length(user_id))) from executions),
          (select max(length(user_id)) from messages)
        )::int as longest`),
  );
  return rows[0]!;
}

describe.each(databaseKinds)('hostile input on %s', (kind) => {
  let sb: TestSwitchboard;
  let slack: FakeSlack;
  let telegram: FakeTelegram;
  let twilio: FakeTwilio;
  let github: FakeGithub;
  const table = routes(() => slack);

  beforeAll(async () => {
    [slack, telegram, twilio, github] = await Promise.all([startFakeSlack(), startFakeTelegram(), startFakeTwilio(), startFakeGithub()]);
    sb = await startTestSwitchboard(kind, {
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_BOT_TOKEN: SLACK_TOKEN,
      SLACK_API_URL: slack.apiUrl,
      TELEGRAM_BOT_TOKEN: TELEGRAM_TOKEN,
      TELEGRAM_WEBHOOK_SECRET: TELEGRAM_SECRET,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      TWILIO_WHATSAPP_FROM: WHATSAPP_FROM,
      TWILIO_API_URL: twilio.apiUrl,
      PUBLIC_URL,
      GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
      GITHUB_TOKEN: 'ghp_test_token',
      GITHUB_API_URL: github.apiUrl,
      RATE_LIMIT_BURST: '10000',
    });
  });
  afterAll(async () => {
    await sb?.close();
    await Promise.all([slack?.close(), telegram?.close(), twilio?.close(), github?.close()]);
  });

  describe.each(table.map((route) => [route.name, route] as const))('%s', (_name, route) => {
    it.each(BAD_INPUTS.map((input) => [input.name, input] as const))('%s: a 4xx storing nothing, or stored sanitized', async (_input, input) => {
      const before = await ingressCounts(sb);
      const res = await sb.app.request(route.path, await input.request(route));
      const body = await res.text();
      const outcome = input.expected(route);
      expect(res.status, body).toBeLessThan(500);
      if (outcome === 'stored') {
        expect(res.status, body).toBeLessThan(300);
        const after = await ingressCounts(sb);
        expect(after.executions).toBe(before.executions + 1);
        expect(after.messages).toBe(before.messages + 1);
        input.check?.(await latestStored(sb));
      } else {
        if (outcome.status > 0) expect(res.status, body).toBe(outcome.status);
        if (res.status >= 400) expect(JSON.parse(body).error.code, body).toBe(outcome.code ?? JSON.parse(body).error.code);
        expect(await ingressCounts(sb)).toEqual(before);
      }
      const health = await sb.app.request('/healthz');
      expect(health.status).toBe(200);
    });

    it('still stores a good request afterwards', async () => {
      const before = await ingressCounts(sb);
      const res = await sb.app.request(route.path, await route.message({ text: 'help' }));
      expect(res.status, await res.text()).toBeLessThan(300);
      expect((await ingressCounts(sb)).executions).toBe(before.executions + 1);
    });
  });
});

describe.each(databaseKinds)('admin API input the database cannot store on %s', (kind) => {
  let sb: TestSwitchboard;
  beforeAll(async () => {
    sb = await startTestSwitchboard(kind);
  });
  afterAll(async () => sb?.close());

  it.each([
    ['POST /api/feedback', 'POST', '/api/feedback', { execution_id: crypto.randomUUID(), score: 1, user_id: 'u\u0000' }],
    ['POST /api/routes', 'POST', '/api/routes', { source: 'ci', event: 'deploy\ud800', agent: 'ask', destination: { channel: 'web', target: 'x' } }],
    ['PATCH /api/agents/:name', 'PATCH', '/api/agents/ask', { enabled: true, 'note\u0000': 1 }],
    ['POST /api/messages', 'POST', '/api/messages', { text: 'hi', user_id: '\udc00' }],
    ['GET /api/executions?q=', 'GET', '/api/executions?q=%00', undefined],
    ['GET /api/conversations/:id', 'GET', '/api/conversations/%00', undefined],
  ])('%s: 400 invalid_text, nothing stored', async (_name, method, path, body) => {
    const before = await tableCounts(sb);
    // JSON.stringify escapes NUL and lone surrogates (\u0000, \ud800): valid JSON, as any client would send it.
    const res = await sb.api(method, path, body);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error.code).toBe('invalid_text');
    expect(await tableCounts(sb)).toEqual(before);
  });

  it('an unauthenticated request is still 401, whatever it holds', async () => {
    const res = await sb.app.request('/api/messages', { method: 'POST', body: '{"text":"\\u0000"}', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(401);
  });
});

describe.each(databaseKinds)('one hook source, however it is spelled, on %s', (kind) => {
  let sb: TestSwitchboard;
  beforeAll(async () => {
    sb = await startTestSwitchboard(kind, { HOOK_SECRET_MY_APP: HOOK_SECRET });
  });
  afterAll(async () => sb?.close());

  it('/hooks/my-app and /hooks/My_App run one signed event once, as one tenant', async () => {
    const init = signedHook({ type: 'deploy', text: 'deployed' }, { id: 'msg_same_event' });
    const first = await sb.app.request('/hooks/my-app', init);
    const second = await sb.app.request('/hooks/My_App', init);
    expect(first.status).toBe(202);
    expect(second.status).toBe(200);
    expect(await second.json()).toMatchObject({ duplicate: true });
    expect((await tableCounts(sb)).executions).toBe(1);
    const [row] = (await sb.api('GET', '/api/executions')).body.executions;
    expect(row.tenant_id).toBe('hook:my-app');
  });

  it('a routing rule added for my_app is stored as my-app and matches events at either spelling', async () => {
    const res = await sb.api('POST', '/api/routes', { source: 'My_App', agent: 'ask', destination: { channel: 'web', target: 'x' } });
    // Whether the destination is accepted depends on the channels enabled here; the source is canonical either way.
    if (res.status === 201) expect(res.body.source).toBe('my-app');
    await sb.opened.handle.db.execute(sql`insert into routes (source, agent, destination) values ('MY_app', 'ask', '{"channel":"web","target":"y"}'::jsonb)`);
    // Written as an earlier version stored it, past the store: the processes' cached rules are told.
    await sb.opened.store.rulesChanged();
    const matched = await sb.opened.store.matchRules('my-app', 'deploy');
    expect(matched.map((r) => r.source)).toContain('MY_app');
    if (res.status === 201) expect(matched.map((r) => r.source)).toContain('my-app');
  });
});

describe.each(databaseKinds)('GitHub deliveries deduplicated on the signed body on %s', (kind) => {
  let sb: TestSwitchboard;
  let github: FakeGithub;
  beforeAll(async () => {
    github = await startFakeGithub();
    sb = await startTestSwitchboard(kind, {
      GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
      GITHUB_TOKEN: 'ghp_test_token',
      GITHUB_API_URL: github.apiUrl,
      RATE_LIMIT_BURST: '1000',
    });
  });
  afterAll(async () => {
    await sb?.close();
    await github?.close();
  });

  it('the same signed body under a new X-GitHub-Delivery is a duplicate, even in parallel', async () => {
    const event = issueCommentEvent({ number: 7, body: '/ask what changed?' });
    const first = await sb.app.request('/github/webhook', await delivery(event, { id: 'delivery-original' }));
    expect(first.status).toBe(202);
    const replays = await Promise.all(['replay-1', 'replay-2', 'replay-3'].map(async (id) => sb.app.request('/github/webhook', await delivery(event, { id }))));
    expect(replays.map((r) => r.status)).toEqual([200, 200, 200]);
    const replayed = await replays[0]!.json();
    expect(replayed).toMatchObject({ duplicate: true });
    expect(replayed.executions.map((e: { id: string }) => e.id)).toEqual((await first.json()).executions.map((e: { id: string }) => e.id));
    // GitHub's own retry of the original delivery is a duplicate too.
    expect((await sb.app.request('/github/webhook', await delivery(event, { id: 'delivery-original' }))).status).toBe(200);
    expect((await tableCounts(sb)).executions).toBe(1);
    // The operator still sees GitHub's delivery id on the execution's envelope.
    const rows = rowsOf<{ delivery_id: string; content_key: string }>(
      await sb.opened.handle.db.execute(sql`select envelope->>'deliveryId' as delivery_id, envelope->>'contentKey' as content_key from executions`),
    );
    expect(rows).toEqual([{ delivery_id: 'delivery-original', content_key: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) }]);
  });

  it('a different body under a new delivery id runs', async () => {
    const before = (await tableCounts(sb)).executions;
    const res = await sb.app.request(
      '/github/webhook',
      await delivery(issueCommentEvent({ number: 7, body: '/ask something else' }), { id: 'delivery-other' }),
    );
    expect(res.status).toBe(202);
    expect((await tableCounts(sb)).executions).toBe(before + 1);
  });
});

describe.each(databaseKinds)('413 over a real keep-alive socket on %s', (kind) => {
  let sb: TestSwitchboard;
  let server: ServerType;
  let port: number;
  beforeAll(async () => {
    sb = await startTestSwitchboard(kind);
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: sb.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await sb?.close();
  });

  /** POSTs `size` bytes through `agent`; resolves with what the client saw (a status, or the socket error). */
  function post(
    agent: http.Agent,
    size: number,
    chunked: boolean,
  ): Promise<{ status?: number; connection?: string; body?: string; error?: string; socket?: unknown }> {
    return new Promise((resolve) => {
      const headers: Record<string, string | number> = { 'content-type': 'application/json', ...(chunked ? {} : { 'content-length': size }) };
      const req = http.request({ host: '127.0.0.1', port, path: '/hooks/ci', method: 'POST', agent, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection, body, socket: req.socket }));
      });
      // After the answer, a write into a closed connection may fail: the client already has its 413.
      req.on('error', (e) => resolve({ error: e.message }));
      const payload = Buffer.alloc(size, 'a');
      if (chunked) {
        for (let i = 0; i < size; i += 64 * 1024) req.write(payload.subarray(i, i + 64 * 1024));
        req.end();
      } else req.end(payload);
    });
  }

  it.each([
    ['with Content-Length', false],
    ['chunked', true],
  ])('a body over 1 MiB (%s) gets its 413 and the connection stays usable', async (_name, chunked) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const big = await post(agent, 2 * 1024 * 1024, chunked);
      expect(big.error).toBeUndefined();
      expect(big.status).toBe(413);
      expect(JSON.parse(big.body!).error.code).toBe('payload_too_large');
      expect(big.connection).toBe('keep-alive');
      // The next request on the same kept-alive socket is answered normally (401: unsigned, but read and answered).
      const next = await post(agent, 10, false);
      expect(next.status).toBe(401);
      expect(next.socket).toBe(big.socket);
    } finally {
      agent.destroy();
    }
  });

  it('a body far over the limit gets its 413 with Connection: close, and a new connection works', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const huge = await post(agent, 20 * 1024 * 1024, false);
      expect(huge.status).toBe(413);
      expect(huge.connection).toBe('close');
      const next = await post(agent, 10, false);
      expect(next.status).toBe(401);
    } finally {
      agent.destroy();
    }
  });
});

describe('sanitizing helpers', () => {
  it('replaces NUL and lone surrogates, and keeps valid pairs', () => {
    expect(sanitizeText('a\u0000b\uD800c\uDC00d😀')).toBe('a\uFFFDb\uFFFDc\uFFFDd😀');
    expect(sanitizeText('\uDBFF')).toBe('\uFFFD');
  });

  it('sanitizes keys and values of nested data without turning __proto__ into a prototype', () => {
    const input = JSON.parse('{"a\\u0000":["x\\ud800",{"__proto__":{"polluted":"\\u0000"}}]}');
    const clean = sanitizeValue(input);
    expect(Object.keys(clean)).toEqual(['a\uFFFD']);
    const item = clean['a\uFFFD'][1];
    expect(Object.getPrototypeOf(item)).toBe(Object.prototype);
    expect(Object.hasOwn(item, '__proto__')).toBe(true);
    expect(JSON.stringify(clean)).toBe('{"a\uFFFD":["x\uFFFD",{"__proto__":{"polluted":"\uFFFD"}}]}');
    expect(findUnstorableText(clean)).toBeUndefined();
    expect(findUnstorableText(input)).toBe('a\u0000');
  });

  it('counts nesting on raw text, ignoring brackets inside strings', () => {
    expect(jsonDepthExceeds('[[[]]]', 3)).toBe(false);
    expect(jsonDepthExceeds('[[[[]]]]', 3)).toBe(true);
    expect(jsonDepthExceeds(`{"s":"${'['.repeat(100)}\\"${'{'.repeat(100)}"}`, 3)).toBe(false);
    expect(jsonDepthExceeds(DEEP)).toBe(true);
  });

  it('hashes only keys too long for an index, the same way every time', () => {
    expect(boundedKey('abc')).toBe('abc');
    expect(boundedKey(LONG)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(boundedKey(LONG)).toBe(boundedKey(LONG));
  });
});
