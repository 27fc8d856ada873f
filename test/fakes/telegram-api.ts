/**
 * Telegram for tests, both directions: a fake Bot API on 127.0.0.1:<random port> that the real grammY client reaches
 * through TELEGRAM_API_ROOT (it checks what Telegram checks: the token, HTML entities, 4,096 characters, 64-byte
 * callback_data; and answers 429 or errors on demand), and builders for updates sent as Telegram sends them.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export const BOT_ID = 7000000001;
export const BOT_TOKEN = `${BOT_ID}:AAH-test_token-0123456789abcdefghijkl`;
export const BOT_USERNAME = 'SwitchboardTestBot';
export const WEBHOOK_SECRET = 'test-webhook-secret_0123456789';

export type TelegramCall = {
  method: string;
  args: Record<string, any>;
  status: number;
  at: number;
  /** For sent messages: the text a user sees, entities parsed. */
  visible?: string;
  result?: unknown;
  error?: string;
};

export type FakeTelegram = {
  /** What TELEGRAM_API_ROOT is set to. */
  apiRoot: string;
  /** Every call, including the ones refused (status tells). */
  calls: TelegramCall[];
  /** Successful calls of `method`. */
  ok(method: string): TelegramCall[];
  /** What users saw arrive in `chatId` (all chats when omitted), in order. */
  sent(chatId?: number | string): string[];
  /** Lets `after` calls of `method` through, then answers the next `times` with 429 and retry_after. */
  rateLimit(method: string, retryAfterSeconds: number, opts?: { times?: number; after?: number }): void;
  /** Answers the next `times` calls of `method` with this error, after letting `after` calls through. */
  fail(method: string, errorCode: number, description: string, times?: number, opts?: { after?: number }): void;
  /** The webhook as set by setWebhook. */
  webhook: { url: string; secret_token?: string; allowed_updates?: string[]; pending_update_count: number; last_error_message?: string };
  /** Queues updates for getUpdates (as Telegram keeps them until confirmed) and wakes a waiting long poll. */
  pushUpdate(...updates: { update_id: number }[]): void;
  /** Updates not yet confirmed: getUpdates with offset N confirms (drops) every update_id below N. */
  unconfirmed(): number[];
  /** Runs when a getUpdates call arrives, before it is answered (to look at what was stored by then). */
  onGetUpdates?: (args: Record<string, any>) => void | Promise<void>;
  close(): Promise<void>;
};

const ALLOWED_TAGS = new Set(['b', 'strong', 'i', 'em', 'u', 'ins', 's', 'strike', 'del', 'code', 'pre', 'a', 'tg-spoiler', 'span', 'blockquote', 'tg-emoji']);
const NAMED = { lt: '<', gt: '>', amp: '&', quot: '"' } as Record<string, string>;

/** Parses Telegram HTML as the Bot API does: only known tags, balanced, and `<`/`&` always escaped. Returns the visible text. */
export function parseTelegramHtml(html: string): { text: string } | { error: string } {
  let text = '';
  const stack: string[] = [];
  for (let i = 0; i < html.length; ) {
    const ch = html[i]!;
    if (ch === '<') {
      const end = html.indexOf('>', i);
      if (end < 0) return { error: `Can't find end of the tag at byte offset ${i}` };
      const tag = html.slice(i + 1, end);
      const closing = tag.startsWith('/');
      const name = (closing ? tag.slice(1) : tag).split(/\s/)[0]!.toLowerCase();
      if (!ALLOWED_TAGS.has(name)) return { error: `Unsupported start tag "${name}" at byte offset ${i}` };
      if (closing) {
        if (stack.pop() !== name) return { error: `Unmatched end tag at byte offset ${i}, expected "</${stack.at(-1) ?? ''}>", found "</${name}>"` };
      } else stack.push(name);
      i = end + 1;
    } else if (ch === '&') {
      const m = /^&(#\d+|#x[0-9a-f]+|[a-z]+);/i.exec(html.slice(i));
      if (!m || (!m[1]!.startsWith('#') && !(m[1]!.toLowerCase() in NAMED))) return { error: `Can't parse entities: character '&' at byte offset ${i}` };
      const name = m[1]!;
      text += name.startsWith('#x')
        ? String.fromCodePoint(parseInt(name.slice(2), 16))
        : name.startsWith('#')
          ? String.fromCodePoint(Number(name.slice(1)))
          : NAMED[name.toLowerCase()];
      i += m[0].length;
    } else if (ch === '>') {
      // Telegram tolerates a bare '>', but it is never produced by a correct escaper.
      return { error: `Can't parse entities: unexpected '>' at byte offset ${i}` };
    } else {
      text += ch;
      i++;
    }
  }
  if (stack.length) return { error: `Can't find end tag corresponding to start tag "${stack.at(-1)}"` };
  return { text };
}

async function readBody(req: IncomingMessage): Promise<Record<string, any>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  if (!raw) return {};
  if ((req.headers['content-type'] ?? '').includes('json')) return JSON.parse(raw);
  return Object.fromEntries(new URLSearchParams(raw));
}

export async function startFakeTelegram(): Promise<FakeTelegram> {
  const calls: TelegramCall[] = [];
  const limits = new Map<string, { retryAfter: number; times: number; after: number }>();
  const failures = new Map<string, { code: number; description: string; times: number; after: number }>();
  const webhook: FakeTelegram['webhook'] = { url: '', pending_update_count: 0 };
  let seq = 1000;
  // getUpdates: the updates Telegram holds for the bot, and the long poll waiting for one (Telegram allows one).
  let queued: { update_id: number; [type: string]: unknown }[] = [];
  let waiting: { wake(): void; conflict(): void } | undefined;
  // Sent messages by `chat:message_id`, so edits can be checked the way Telegram checks them.
  const messages = new Map<string, { message: Record<string, unknown>; text: string; markup?: unknown }>();

  type Answer = { ok: true; result: unknown; visible?: string } | { ok: false; error_code: number; description: string; parameters?: Record<string, unknown> };
  const bad = (description: string): Answer => ({ ok: false, error_code: 400, description: `Bad Request: ${description}` });

  function checkMarkup(markup: any): string | undefined {
    for (const row of markup?.inline_keyboard ?? []) {
      for (const button of row) {
        if (typeof button.callback_data === 'string' && (Buffer.byteLength(button.callback_data) > 64 || button.callback_data === ''))
          return 'BUTTON_DATA_INVALID';
      }
    }
    return undefined;
  }

  function answer(method: string, args: Record<string, any>): Answer {
    switch (method) {
      case 'getMe':
        return {
          ok: true,
          result: {
            id: BOT_ID,
            is_bot: true,
            first_name: 'Switchboard',
            username: BOT_USERNAME,
            can_join_groups: true,
            can_read_all_group_messages: false,
            supports_inline_queries: false,
          },
        };
      case 'sendMessage': {
        if (args.chat_id === undefined || args.chat_id === '') return bad('chat not found');
        let visible = String(args.text ?? '');
        if (args.parse_mode === 'HTML') {
          const parsed = parseTelegramHtml(visible);
          if ('error' in parsed) return bad(`can't parse entities: ${parsed.error}`);
          visible = parsed.text;
        } else if (args.parse_mode) return bad(`unsupported parse_mode ${args.parse_mode} in this fake`);
        if (visible.trim() === '') return bad('message text is empty');
        if (visible.length > 4096) return bad('message is too long');
        const markup = checkMarkup(args.reply_markup);
        if (markup) return bad(markup);
        const message = {
          message_id: ++seq,
          date: Math.floor(Date.now() / 1000),
          chat: { id: args.chat_id, type: Number(args.chat_id) < 0 ? 'supergroup' : 'private' },
          from: { id: BOT_ID, is_bot: true, first_name: 'Switchboard', username: BOT_USERNAME },
          text: visible,
          ...(args.message_thread_id ? { message_thread_id: args.message_thread_id } : {}),
          ...(args.reply_markup ? { reply_markup: args.reply_markup } : {}),
        };
        messages.set(`${args.chat_id}:${message.message_id}`, { message, text: visible, markup: args.reply_markup });
        return { ok: true, result: message, visible };
      }
      case 'editMessageText': {
        const sent = messages.get(`${args.chat_id}:${args.message_id}`);
        if (!sent) return bad('message to edit not found');
        let visible = String(args.text ?? '');
        if (args.parse_mode === 'HTML') {
          const parsed = parseTelegramHtml(visible);
          if ('error' in parsed) return bad(`can't parse entities: ${parsed.error}`);
          visible = parsed.text;
        }
        if (visible.trim() === '') return bad('message text is empty');
        if (visible.length > 4096) return bad('message is too long');
        const markup = checkMarkup(args.reply_markup);
        if (markup) return bad(markup);
        if (visible === sent.text && JSON.stringify(args.reply_markup) === JSON.stringify(sent.markup)) {
          return bad(
            'message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
          );
        }
        Object.assign(sent, { text: visible, markup: args.reply_markup });
        return { ok: true, result: { ...sent.message, text: visible, edit_date: Math.floor(Date.now() / 1000) }, visible };
      }
      case 'answerCallbackQuery':
        if (!args.callback_query_id) return bad('query is too old and response timeout expired or query ID is invalid');
        if (String(args.text ?? '').length > 200) return bad('MESSAGE_TOO_LONG');
        return { ok: true, result: true };
      case 'editMessageReplyMarkup': {
        const markup = checkMarkup(args.reply_markup);
        if (markup) return bad(markup);
        return { ok: true, result: { message_id: args.message_id, chat: { id: args.chat_id }, date: 0, reply_markup: args.reply_markup } };
      }
      case 'setWebhook':
        if (!/^https?:\/\//.test(String(args.url ?? ''))) return bad('bad webhook: An HTTPS URL must be provided for webhook');
        if (args.secret_token !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(args.secret_token)) return bad('secret token contains unallowed characters');
        Object.assign(webhook, { url: args.url, secret_token: args.secret_token, allowed_updates: args.allowed_updates });
        return { ok: true, result: true };
      case 'getWebhookInfo':
        return {
          ok: true,
          result: {
            url: webhook.url,
            has_custom_certificate: false,
            pending_update_count: webhook.pending_update_count,
            ...(webhook.last_error_message ? { last_error_date: 1_700_000_000, last_error_message: webhook.last_error_message } : {}),
            ...(webhook.allowed_updates ? { allowed_updates: webhook.allowed_updates } : {}),
          },
        };
      case 'setMyCommands':
        return { ok: true, result: true };
      case 'deleteWebhook':
        Object.assign(webhook, { url: '', secret_token: undefined, allowed_updates: undefined });
        if (args.drop_pending_updates) queued = [];
        return { ok: true, result: true };
      default:
        return { ok: false, error_code: 404, description: 'Not Found: method not found' };
    }
  }

  const conflict = (description: string): [number, Answer] => [409, { ok: false, error_code: 409, description: `Conflict: ${description}` }];

  /** A long poll as Telegram answers it: confirm below `offset`, then the allowed updates, waiting up to `timeout` s for one. */
  async function getUpdates(args: Record<string, any>, res: ServerResponse): Promise<[number, Answer]> {
    await fake.onGetUpdates?.(args);
    // The client went away while the hook held its request: as if it never reached Telegram, nothing is confirmed.
    if (res.destroyed || !res.socket || res.socket.destroyed) return [499, { ok: false, error_code: 499, description: 'client closed the request' }];
    if (webhook.url) return conflict("can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
    // A second poller ends the first: Telegram answers the earlier request 409.
    waiting?.conflict();
    const offset = args.offset === undefined ? undefined : Number(args.offset);
    if (offset !== undefined) queued = queued.filter((u) => u.update_id >= offset);
    const allowed: string[] | undefined = typeof args.allowed_updates === 'string' ? JSON.parse(args.allowed_updates) : args.allowed_updates;
    const ready = () => queued.filter((u) => !allowed?.length || allowed.some((type) => type in u)).slice(0, Number(args.limit ?? 100));
    if (!ready().length && Number(args.timeout ?? 0) > 0) {
      const outcome = await new Promise<'wake' | 'conflict'>((resolve) => {
        const finish = (how: 'wake' | 'conflict') => {
          clearTimeout(timer);
          if (waiting === me) waiting = undefined;
          resolve(how);
        };
        const timer = setTimeout(() => finish('wake'), Number(args.timeout) * 1000);
        const me = { wake: () => finish('wake'), conflict: () => finish('conflict') };
        waiting = me;
        // The client gave up (aborted on shutdown): nothing to answer.
        res.once('close', () => finish('wake'));
      });
      if (outcome === 'conflict') return conflict('terminated by other getUpdates request; make sure that only one bot instance is running');
    }
    return [200, { ok: true, result: ready() }];
  }

  const server = createServer(async (req, res) => {
    const args = await readBody(req);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const match = /^\/bot([^/]+)\/(\w+)$/.exec(new URL(req.url ?? '/', 'http://fake').pathname);
    if (!match) return send(404, { ok: false, error_code: 404, description: 'Not Found' });
    const [, token, method] = match as unknown as [string, string, string];
    const record = (status: number, a: Answer) => {
      calls.push({
        method,
        args,
        status,
        at: Date.now(),
        ...(a.ok ? { result: a.result, ...(a.visible !== undefined ? { visible: a.visible } : {}) } : { error: a.description }),
      });
      send(status, a.ok ? { ok: true, result: a.result } : a);
    };
    if (token !== BOT_TOKEN) return record(401, { ok: false, error_code: 401, description: 'Unauthorized' });
    const limit = limits.get(method);
    if (limit && limit.after > 0) limit.after--;
    else if (limit && limit.times > 0) {
      limit.times--;
      return record(429, {
        ok: false,
        error_code: 429,
        description: `Too Many Requests: retry after ${limit.retryAfter}`,
        parameters: { retry_after: limit.retryAfter },
      });
    }
    const failure = failures.get(method);
    if (failure && failure.after > 0) failure.after--;
    else if (failure && failure.times > 0) {
      failure.times--;
      return record(failure.code, { ok: false, error_code: failure.code, description: failure.description });
    }
    if (method === 'getUpdates') return record(...(await getUpdates(args, res)));
    const a = answer(method, args);
    return record(a.ok ? 200 : a.error_code, a);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const ok = (method: string) => calls.filter((c) => c.method === method && c.status === 200);
  const fake: FakeTelegram = {
    apiRoot: `http://127.0.0.1:${port}`,
    calls,
    ok,
    sent: (chatId) =>
      ok('sendMessage')
        .filter((c) => chatId === undefined || String(c.args.chat_id) === String(chatId))
        .map((c) => c.visible!),
    rateLimit(method, retryAfterSeconds, { times = 1, after = 0 } = {}) {
      limits.set(method, { retryAfter: retryAfterSeconds, times, after });
    },
    fail(method, errorCode, description, times = 1, { after = 0 } = {}) {
      failures.set(method, { code: errorCode, description, times, after });
    },
    webhook,
    pushUpdate(...updates) {
      queued.push(...(updates as typeof queued));
      waiting?.wake();
    },
    unconfirmed: () => queued.map((u) => u.update_id),
    close: () =>
      new Promise<void>((resolve) => {
        waiting?.wake();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return fake;
}

let updateSeq = 500_000_000;
let messageSeq = 1;
export const nextUpdateId = () => ++updateSeq;

export type Person = { id: number; first_name: string; username?: string };
export const ALICE: Person = { id: 111_000_111, first_name: 'Alice', username: 'alice' };
export const BOB: Person = { id: 222_000_222, first_name: 'Bob' };

/** A bot_command entity for a message starting with `/word` or `/word@name`. */
function commandEntities(text: string) {
  const m = /^\/[A-Za-z0-9_]+(?:@\w+)?/.exec(text);
  return m ? [{ type: 'bot_command', offset: 0, length: m[0].length }] : [];
}

/** Entities as Telegram marks them: a leading /command and every @username. */
export function entitiesOf(text: string) {
  const command = commandEntities(text);
  const after = command[0]?.length ?? 0;
  const mentions = [...text.matchAll(/@\w{5,}/g)].filter((m) => m.index! >= after);
  return [...command, ...mentions.map((m) => ({ type: 'mention', offset: m.index!, length: m[0].length }))];
}

export type MessageOptions = {
  chat?: { id: number; type: 'private' | 'group' | 'supergroup'; title?: string; is_forum?: boolean };
  from?: Person;
  updateId?: number;
  messageId?: number;
  replyTo?: Record<string, unknown>;
  threadId?: number;
  extra?: Record<string, unknown>;
};

/** An update carrying a text message, as Telegram sends it. */
export function messageUpdate(text: string, opts: MessageOptions = {}) {
  const from = opts.from ?? ALICE;
  const chat = opts.chat ?? { id: from.id, type: 'private' as const, first_name: from.first_name };
  const entities = entitiesOf(text);
  return {
    update_id: opts.updateId ?? nextUpdateId(),
    message: {
      message_id: opts.messageId ?? messageSeq++,
      from: { is_bot: false, language_code: 'en', ...from },
      chat,
      date: Math.floor(Date.now() / 1000),
      text,
      ...(entities.length ? { entities } : {}),
      ...(opts.replyTo ? { reply_to_message: opts.replyTo } : {}),
      ...(opts.threadId ? { message_thread_id: opts.threadId, is_topic_message: true } : {}),
      ...opts.extra,
    },
  };
}

/** A press on an inline button with `data`, under `message`. */
export function callbackUpdate(
  data: string,
  message: { message_id: number; chat: { id: number; type: string } },
  from: Person = ALICE,
  updateId = nextUpdateId(),
) {
  return {
    update_id: updateId,
    callback_query: {
      id: String(4_000_000_000 + updateId),
      from: { is_bot: false, ...from },
      message: { ...message, date: Math.floor(Date.now() / 1000), from: { id: BOT_ID, is_bot: true, first_name: 'Switchboard', username: BOT_USERNAME } },
      chat_instance: '-123456789',
      data,
    },
  };
}

/** A POST to /telegram/webhook as Telegram makes it: the update as JSON and the secret token header. */
export function telegramRequest(update: unknown, opts: { secret?: string | null; body?: string } = {}): RequestInit {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const secret = opts.secret === undefined ? WEBHOOK_SECRET : opts.secret;
  if (secret !== null) headers['x-telegram-bot-api-secret-token'] = secret;
  return { method: 'POST', body: opts.body ?? JSON.stringify(update), headers };
}
