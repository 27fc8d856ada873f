/**
 * Slack for tests, both directions: a fake Web API (chat.postMessage, chat.update, conversations.replies, auth.test,
 * apps.connections.open with the app token, the Socket Mode WebSocket it points at (slack-socket.ts),
 * and response_url endpoints) on 127.0.0.1:<random port> that the real WebClient reaches through SLACK_API_URL, and builders for
 * inbound requests signed exactly as Slack signs them.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { attachSocketMode, type FakeSocketMode } from './slack-socket.ts';

export const BOT_TOKEN = 'xoxb-test-0000-token';
/** The app-level token (Socket Mode): the only token apps.connections.open accepts. */
export const APP_TOKEN = 'xapp-1-A0APP0001-0000-test';
// Slack's own documented example secret, so the signer below is the one checked against Slack's vector.
export const SIGNING_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
export const TEAM = 'T0TEAM001';
export const BOT_USER = 'U0BOT0001';
export const BOT_ID = 'B0BOT0001';

export type SlackCall = { method: string; args: Record<string, any>; status: number; at: number; result?: Record<string, any> };
export type ResponseUrlCall = { id: string; body: any; at: number };
/** A message as Slack keeps it in a channel: what conversations.replies answers with. */
export type StoredMessage = {
  ts: string;
  text?: string;
  user?: string;
  bot_id?: string;
  thread_ts?: string;
  subtype?: string;
  blocks?: unknown[];
  metadata?: Record<string, unknown>;
};

export type FakeSlack = {
  /** What SLACK_API_URL is set to. */
  apiUrl: string;
  /** Every Web API call, including the ones answered 429 (status tells). */
  calls: SlackCall[];
  /** Every POST to a response_url. */
  responses: ResponseUrlCall[];
  responseUrl(id: string): string;
  /** Lets `after` calls of `method` through, then answers the next `times` with 429 and Retry-After. */
  rateLimit(method: string, retryAfterSeconds: number, opts?: { times?: number; after?: number }): void;
  /** Successful calls of `method`. */
  ok(method: string): SlackCall[];
  /** Messages in a channel, as Slack keeps them: what the bot posted and edited, plus what `addMessage` put there. */
  messages(channel: string): StoredMessage[];
  /** A message people wrote in a channel (Slack keeps it whether or not an event reached the app). */
  addMessage(channel: string, message: StoredMessage): void;
  /** Answers every call of `method` with this error body (e.g. missing_scope) until `restore(method)`. */
  refuse(method: string, body: Record<string, unknown>): void;
  restore(method: string): void;
  /** The Socket Mode server apps.connections.open hands out. */
  socket: FakeSocketMode;
  close(): Promise<void>;
};

async function readBody(req: IncomingMessage): Promise<Record<string, any>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  if ((req.headers['content-type'] ?? '').includes('json')) return raw ? JSON.parse(raw) : {};
  // The WebClient sends forms, with nested values (blocks, metadata) JSON-encoded.
  const args: Record<string, any> = Object.fromEntries(new URLSearchParams(raw));
  for (const key of ['blocks', 'attachments', 'metadata']) if (typeof args[key] === 'string') args[key] = JSON.parse(args[key]);
  return args;
}

export async function startFakeSlack(): Promise<FakeSlack> {
  const calls: SlackCall[] = [];
  const responses: ResponseUrlCall[] = [];
  const limits = new Map<string, { retryAfter: number; times: number; after: number }>();
  const refusals = new Map<string, Record<string, unknown>>();
  const channels = new Map<string, StoredMessage[]>();
  const stored = (channel: string) => channels.get(channel) ?? channels.set(channel, []).get(channel)!;
  let seq = 0;
  let port = 0;
  // Slack stamps messages with the current time, so they sort after the (older) messages tests write by hand.
  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}`;
  const byTs = (a: StoredMessage, b: StoredMessage) => a.ts.length - b.ts.length || (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0);

  function answer(method: string, args: Record<string, any>): Record<string, unknown> {
    switch (method) {
      case 'auth.test':
        return { ok: true, url: 'https://fake.slack.test/', team: 'Test Team', user: 'switchboard', team_id: TEAM, user_id: BOT_USER, bot_id: BOT_ID };
      case 'apps.connections.open':
        return { ok: true, url: `ws://127.0.0.1:${port}/link/?ticket=fake-ticket` };
      case 'chat.postMessage': {
        if (!args.channel) return { ok: false, error: 'channel_not_found' };
        if (!args.text && !args.blocks) return { ok: false, error: 'no_text' };
        const ts = nextTs();
        const message = {
          type: 'message',
          user: BOT_USER,
          bot_id: BOT_ID,
          text: args.text,
          blocks: args.blocks,
          ts,
          ...(args.thread_ts ? { thread_ts: args.thread_ts } : {}),
          ...(args.metadata ? { metadata: args.metadata } : {}),
        };
        stored(args.channel).push(message);
        return { ok: true, channel: args.channel, ts, message };
      }
      case 'chat.postEphemeral':
        // Seen only by `user`, and never part of the channel's history.
        if (!args.channel || !args.user) return { ok: false, error: 'channel_not_found' };
        if (!args.text && !args.blocks) return { ok: false, error: 'no_text' };
        return { ok: true, message_ts: nextTs() };
      case 'chat.update': {
        const message = channels.get(args.channel)?.find((m) => m.ts === args.ts);
        if (!message) return { ok: false, error: 'message_not_found' };
        if (message.bot_id !== BOT_ID) return { ok: false, error: 'cant_update_message' };
        Object.assign(message, { text: args.text, blocks: args.blocks });
        return { ok: true, channel: args.channel, ts: args.ts, text: args.text };
      }
      case 'conversations.replies': {
        // Oldest first, the parent first, in pages of `limit` with a cursor, like Slack.
        const thread = (channels.get(args.channel) ?? []).filter((m) => m.ts === args.ts || m.thread_ts === args.ts).sort(byTs);
        // Slack always has the parent; the fake knows people's messages only when a test added them, so a thread
        // it knows only the bot's replies in is still a thread.
        if (!thread.length) return { ok: false, error: 'thread_not_found' };
        const start = args.cursor ? Number(Buffer.from(args.cursor, 'base64').toString('utf8').replace('offset:', '')) : 0;
        const limit = Math.min(Number(args.limit) || 1000, 1000);
        const page = thread.slice(start, start + limit);
        const more = start + limit < thread.length;
        return {
          ok: true,
          messages: page,
          has_more: more,
          response_metadata: { next_cursor: more ? Buffer.from(`offset:${start + limit}`).toString('base64') : '' },
        };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const args = await readBody(req);
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const response = /^\/response\/(.+)$/.exec(url.pathname);
    if (response) {
      responses.push({ id: response[1]!, body: args, at: Date.now() });
      return reply(200, { ok: true });
    }
    const method = /^\/api\/(.+)$/.exec(url.pathname)?.[1];
    if (!method) return reply(404, { ok: false, error: 'not_found' });
    const limit = limits.get(method);
    if (limit && limit.after > 0) limit.after--;
    else if (limit && limit.times > 0) {
      limit.times--;
      calls.push({ method, args, status: 429, at: Date.now() });
      return reply(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(limit.retryAfter) });
    }
    // Like Slack: apps.connections.open takes the app-level token only, every other method a bot token.
    const token = method === 'apps.connections.open' ? APP_TOKEN : BOT_TOKEN;
    const authorized = req.headers.authorization === `Bearer ${token}`;
    const result = !authorized ? { ok: false, error: 'invalid_auth' } : (refusals.get(method) ?? answer(method, args));
    calls.push({ method, args, status: 200, at: Date.now(), result });
    return reply(200, result);
  });
  const socket = attachSocketMode(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
  const base = `http://127.0.0.1:${port}`;
  return {
    apiUrl: `${base}/api/`,
    calls,
    responses,
    responseUrl: (id) => `${base}/response/${id}`,
    rateLimit(method, retryAfterSeconds, { times = 1, after = 0 } = {}) {
      limits.set(method, { retryAfter: retryAfterSeconds, times, after });
    },
    ok: (method) => calls.filter((c) => c.method === method && c.result?.ok === true),
    messages: (channel) => [...(channels.get(channel) ?? [])].sort(byTs),
    addMessage: (channel, message) => void stored(channel).push({ ...message }),
    refuse: (method, body) => void refusals.set(method, { ok: false, ...body }),
    restore: (method) => void refusals.delete(method),
    socket,
    async close() {
      await socket.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Slack's v0 signature, written out independently of the adapter so each checks the other. */
export function slackSignature(secret: string, timestamp: string, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

export type SignOptions = { secret?: string; at?: Date; headers?: Record<string, string> };

/** A request to /slack/events as Slack sends it: raw body, timestamp header, signature over both. */
export function slackRequest(body: string, contentType: string, opts: SignOptions = {}): RequestInit {
  const timestamp = String(Math.floor((opts.at ?? new Date()).getTime() / 1000));
  return {
    method: 'POST',
    body,
    headers: {
      'content-type': contentType,
      'x-slack-request-timestamp': timestamp,
      'x-slack-signature': slackSignature(opts.secret ?? SIGNING_SECRET, timestamp, body),
      ...opts.headers,
    },
  };
}

/** An Events API callback wrapping `event`; `authorizations` names our bot as Slack does. */
export function eventBody(event: Record<string, unknown>, eventId: string, extra: Record<string, unknown> = {}) {
  return {
    token: 'legacy-verification-token',
    team_id: TEAM,
    api_app_id: 'A0APP0001',
    event: { event_ts: event.ts, ...event },
    type: 'event_callback',
    event_id: eventId,
    event_time: 1_700_000_000,
    authorizations: [{ enterprise_id: null, team_id: TEAM, user_id: BOT_USER, is_bot: true, is_enterprise_install: false }],
    ...extra,
  };
}

export function eventRequest(event: Record<string, unknown>, eventId: string, opts: SignOptions & { extra?: Record<string, unknown> } = {}): RequestInit {
  return slackRequest(JSON.stringify(eventBody(event, eventId, opts.extra)), 'application/json', opts);
}

export function commandRequest(fields: Record<string, string>, opts: SignOptions = {}): RequestInit {
  const form = new URLSearchParams({
    token: 'legacy-verification-token',
    team_id: TEAM,
    team_domain: 'testteam',
    channel_id: 'C0CHAN001',
    channel_name: 'ops',
    user_id: 'U0ALICE01',
    user_name: 'alice',
    command: '/sb',
    text: '',
    api_app_id: 'A0APP0001',
    trigger_id: `trigger.${Math.random().toString(36).slice(2)}`,
    ...fields,
  });
  return slackRequest(form.toString(), 'application/x-www-form-urlencoded', opts);
}

/** A click on one of our 👍/👎 buttons under message `ts`, as Slack's interactivity payload. */
export function clickPayload(opts: {
  executionId: string;
  score: 1 | -1;
  ts: string;
  channel?: string;
  user?: string;
  triggerId?: string;
  responseUrl: string;
  blocks?: unknown[];
  threadTs?: string;
}) {
  const channel = opts.channel ?? 'C0CHAN001';
  const actionId = opts.score === 1 ? 'sb_feedback_up' : 'sb_feedback_down';
  return {
    type: 'block_actions',
    user: { id: opts.user ?? 'U0ALICE01', username: 'alice', name: 'alice', team_id: TEAM },
    api_app_id: 'A0APP0001',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: opts.ts, channel_id: channel, is_ephemeral: false },
    trigger_id: opts.triggerId ?? `trigger.${Math.random().toString(36).slice(2)}`,
    team: { id: TEAM, domain: 'testteam' },
    channel: { id: channel, name: 'ops' },
    message: {
      type: 'message',
      bot_id: BOT_ID,
      text: 'the answer',
      ts: opts.ts,
      ...(opts.threadTs ? { thread_ts: opts.threadTs } : {}),
      blocks: opts.blocks ?? [],
    },
    response_url: opts.responseUrl,
    actions: [
      {
        action_id: actionId,
        block_id: 'sb_feedback',
        type: 'button',
        value: JSON.stringify({ executionId: opts.executionId, score: opts.score }),
        action_ts: '1700000100.000100',
      },
    ],
  };
}

export function clickRequest(payload: unknown, opts: SignOptions = {}): RequestInit {
  return slackRequest(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), 'application/x-www-form-urlencoded', opts);
}
