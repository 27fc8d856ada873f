/**
 * The `telegram` channel: Bot API updates posted to `POST /telegram/webhook`, or fetched with getUpdates when
 * TELEGRAM_MODE=polling; answered through grammY.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Bot, GrammyError } from 'grammy';
import type { Update, UserFromGetMe } from 'grammy/types';
import type { Config } from '../../src/config.ts';
import { VerificationError, type ChannelAdapter, type Logger, type RawRequest } from '../../src/ports.ts';
import { TELEGRAM_PROFILE } from './profile.ts';
import { normalizeTelegram, type TelegramReplyRef } from './normalize.ts';
import { composeReply, createTelegramSender, parseTarget, TELEGRAM_LIMITS } from './reply.ts';
import { verifyTelegram } from './verify.ts';

export { CALLBACK_DATA_BYTES, conversationKey, GROUP_COMMANDS, normalizeTelegram, parseVoteData, voteData } from './normalize.ts';
export type { NormalizeOptions, TelegramReplyRef } from './normalize.ts';
export { composeReply, createTelegramSender, feedbackKeyboard, MESSAGE_CHARS, parseTarget, renderHtml, TELEGRAM_LIMITS } from './reply.ts';
export { SECRET_HEADER, SECRET_TOKEN, verifyTelegram } from './verify.ts';

/** What the bot offers in Telegram's command menu (set by `telegram set-webhook`). */
export const BOT_COMMANDS = [
  { command: 'help', description: 'List commands and enabled agents' },
  { command: 'ask', description: 'Ask a question (or just type it)' },
  { command: 'summarize', description: 'Summarize this chat' },
  { command: 'status', description: 'Queue, agents, recent failures, provider health' },
];

/** The updates we handle; anything else Telegram need not send. */
export const ALLOWED_UPDATES = ['message', 'callback_query'] as const;

/** The settings key under which the bot's getMe answer is kept (JSON), so no process has to ask for it. */
export const BOT_INFO_SETTING = 'telegram.bot_info';

/** Reads a stored getMe answer; undefined when absent, unreadable, or another bot's (the token changed). */
export function parseBotInfo(stored: string | undefined, token: string | undefined): UserFromGetMe | undefined {
  if (!stored || !token) return undefined;
  try {
    const info = JSON.parse(stored) as UserFromGetMe;
    return info && typeof info.username === 'string' && info.id === botIdFromToken(token) ? info : undefined;
  } catch {
    return undefined;
  }
}

export type TelegramAdapterOptions = {
  now?: () => Date;
  /**
   * The bot's getMe answer when already known (stored by `telegram set-webhook`); otherwise it is fetched once, the
   * first time a group message needs it, and handed to `onBotInfo` to be stored.
   */
  botInfo?: UserFromGetMe;
  onBotInfo?(info: UserFromGetMe): void | Promise<void>;
  /** Seconds one getUpdates long poll waits for updates (default 25, inside grammY's 30 s request timeout). */
  pollTimeoutSeconds?: number;
};

/** A bot token is `<bot user id>:<secret>`: the id is all "is this a reply to us?" needs. */
export function botIdFromToken(token: string): number | undefined {
  const match = /^(\d+):[\w-]+$/.exec(token.trim());
  return match ? Number(match[1]) : undefined;
}

/** A grammY Bot pointed at TELEGRAM_API_ROOT. grammY does not retry on its own; our queue does. */
export function createTelegramBot(config: Pick<Config['telegram'], 'botToken' | 'apiRoot'>, botInfo?: UserFromGetMe): Bot {
  if (!config.botToken) throw new Error('TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and set its token');
  return new Bot(config.botToken, { botInfo, client: { apiRoot: config.apiRoot.replace(/\/+$/, ''), timeoutSeconds: 30 } });
}

export function createTelegramAdapter(config: Config['telegram'], opts: TelegramAdapterOptions = {}): ChannelAdapter {
  const now = opts.now ?? (() => new Date());
  const disabled = (): never => {
    throw new Error(`the telegram channel is disabled: set ${config.requiredEnv.join(', ')}`);
  };
  const botId = config.botToken ? botIdFromToken(config.botToken) : undefined;
  if (!config.enabled || botId === undefined) {
    if (config.enabled) throw new Error('TELEGRAM_BOT_TOKEN does not look like a bot token (<digits>:<secret>); copy it again from @BotFather');
    return {
      ...TELEGRAM_PROFILE,
      requiredEnv: config.requiredEnv,
      enabled: false,
      verify: disabled,
      normalize: disabled,
      postTo: disabled,
    };
  }

  // botInfo comes from the database (stored by set-webhook), not from getMe at each start; without it the username
  // is fetched once, lazily, because only group messages with a mention or /command@name need it, and stored. A
  // failure is not cached: the update is not stored, Telegram delivers it again, and the next attempt asks again.
  const bot = createTelegramBot(config, opts.botInfo?.id === botId ? opts.botInfo : undefined);
  let fetching: Promise<string> | undefined;
  function username(): Promise<string> {
    if (bot.isInited()) return Promise.resolve(bot.botInfo.username);
    fetching ??= bot.api.getMe().then(
      (me) => {
        bot.botInfo = me;
        // Stored for the next start; a failure to store costs one more getMe then, so it does not fail this update.
        Promise.resolve()
          .then(() => opts.onBotInfo?.(me))
          .catch(() => {});
        return me.username;
      },
      (err: unknown) => {
        fetching = undefined;
        throw new Error(`Telegram getMe failed, so a group message cannot be matched to this bot: ${(err as Error).message}`, { cause: err });
      },
    );
    return fetching;
  }

  const sender = createTelegramSender({ api: bot.api });
  return {
    ...TELEGRAM_PROFILE,
    requiredEnv: config.requiredEnv,
    enabled: true,
    accepts: ['application/json'],
    verify(req) {
      if (config.mode === 'polling') {
        throw new VerificationError('polling_mode', 'TELEGRAM_MODE=polling: this server fetches updates with getUpdates and takes no webhook posts');
      }
      verifyTelegram(req, config.webhookSecret);
    },
    normalize: (req) => normalizeTelegram(req, { now, botId, username }),
    // Telegram redelivers on anything but 2xx: once the update is stored, it is 200 whether new or a duplicate.
    ack: (_envelopes, results) => Response.json({ ok: true, duplicate: results.every((r) => r.duplicate) }, { status: 200 }),
    async refuse(envelope, text, how) {
      const ref = envelope.replyRef as TelegramReplyRef;
      if (ref.kind === 'vote') {
        // A button press is answered with a pop-up on the button, not a message in the chat.
        const alert = { text: text.slice(0, 200), show_alert: true };
        if (how === 'respond') return Response.json({ method: 'answerCallbackQuery', callback_query_id: ref.callbackQueryId, ...alert });
        await bot.api.answerCallbackQuery(ref.callbackQueryId, alert);
        return undefined;
      }
      const options = {
        ...(ref.threadId !== undefined ? { message_thread_id: ref.threadId } : {}),
        reply_parameters: { message_id: ref.messageId, allow_sending_without_reply: true },
      };
      // A webhook's response may carry one Bot API call: the answer goes out without a request of our own.
      if (how === 'respond') return Response.json({ method: 'sendMessage', chat_id: ref.chatId, text, ...options });
      await bot.api.sendMessage(ref.chatId, text, options);
      return undefined;
    },
    limits: TELEGRAM_LIMITS,
    compose: composeReply,
    send: sender.send,
    postTo: sender.postTo,
    validateTarget(target) {
      try {
        parseTarget(target);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    },
    update: sender.update,
    ...(config.mode === 'polling'
      ? {
          poll: (receive: (req: RawRequest) => Promise<unknown>, o: { signal: AbortSignal; logger: Logger }) =>
            pollUpdates(bot, receive, { ...o, timeoutSeconds: opts.pollTimeoutSeconds ?? 25 }),
        }
      : {}),
  };
}

/** Waits `ms`, or less when `signal` aborts. */
const pause = (ms: number, signal: AbortSignal): Promise<void> => sleep(ms, undefined, { signal }).catch(() => {});

/** The seconds Telegram asked a poller to wait (a 429's `retry_after`), or undefined when it asked for none. */
const waitTelegramAskedFor = (err: unknown): number | undefined => {
  const seconds = err instanceof GrammyError ? err.parameters.retry_after : (err as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  return typeof seconds === 'number' && seconds > 0 ? seconds : undefined;
};

/** What an operator should make of a failed Bot API call while polling. */
function pollProblem(err: unknown): { message: string; webhookSet?: boolean } {
  if (!(err instanceof GrammyError))
    return { message: `cannot reach the Telegram Bot API (${(err as Error).message}); check the network and TELEGRAM_API_ROOT` };
  if (err.error_code === 409 && /webhook/i.test(err.description))
    return { message: 'a webhook was set while polling (telegram set-webhook?); removing it again', webhookSet: true };
  if (err.error_code === 409) {
    return {
      message:
        `Telegram ${err.method} refused: ${err.description}. Another client polls this bot outside this database's leader lock: ` +
        'stop it (another Switchboard with a different DATABASE_URL, a local copy) or give it its own bot token',
    };
  }
  if (err.error_code === 401 || err.error_code === 404)
    return { message: `Telegram ${err.method} refused the token (${err.description}); check TELEGRAM_BOT_TOKEN (BotFather → /mybots → API Token)` };
  if (err.error_code === 429) return { message: `Telegram ${err.method} is rate-limited (${err.description})` };
  return { message: `Telegram ${err.method} failed: ${err.description}` };
}

/**
 * The long-poll loop (TELEGRAM_MODE=polling). getUpdates answers 409 while a webhook is set, so it is removed first
 * (pending updates are kept). An update is confirmed to Telegram only by asking for the next offset, and the offset
 * moves past an update only once `receive` stored it: a process that dies mid-batch leaves the rest unconfirmed, and
 * whoever polls next gets them again (dedup on update_id makes that harmless). Failures back off 1 s, 2 s … 30 s, or
 * as long as a retry_after says, and each says what to do.
 */
async function pollUpdates(
  bot: Bot,
  receive: (req: RawRequest) => Promise<unknown>,
  opts: { signal: AbortSignal; logger: Logger; timeoutSeconds: number },
): Promise<void> {
  const { signal, logger } = opts;
  // grammY types its signal parameter with the abort-controller polyfill; the platform's AbortSignal is what it uses.
  const apiSignal = signal as unknown as Parameters<Bot['api']['getUpdates']>[1];
  let webhookRemoved = false;
  let offset: number | undefined;
  let failures = 0;
  const backOff = async (err: unknown, message: string, context: object = {}) => {
    failures++;
    const seconds = waitTelegramAskedFor(err) ?? Math.min(30, 2 ** (failures - 1));
    logger.warn({ ...context, err: (err as Error)?.message, retryInSeconds: seconds, failures }, `${message}; retrying in ${seconds} s`);
    await pause(seconds * 1000, signal);
  };

  while (!signal.aborted) {
    let updates: Update[];
    try {
      if (!webhookRemoved) {
        await bot.api.deleteWebhook({ drop_pending_updates: false }, apiSignal);
        webhookRemoved = true;
        logger.info({ channel: 'telegram' }, 'Telegram: receiving updates with getUpdates (TELEGRAM_MODE=polling); any webhook was removed');
      }
      updates = await bot.api.getUpdates({ offset, timeout: opts.timeoutSeconds, limit: 100, allowed_updates: [...ALLOWED_UPDATES] }, apiSignal);
    } catch (err) {
      if (signal.aborted) break;
      const problem = pollProblem(err);
      if (problem.webhookSet) webhookRemoved = false;
      await backOff(err, problem.message, { channel: 'telegram' });
      continue;
    }
    let stored = true;
    for (const update of updates) {
      if (signal.aborted) break;
      try {
        await receive(updateRequest(update));
      } catch (err) {
        // Not stored: the offset stays, so the next getUpdates hands this update (and the rest) over again.
        await backOff(err, `Telegram update ${update.update_id} could not be stored; it stays unconfirmed`, {
          channel: 'telegram',
          updateId: update.update_id,
        });
        stored = false;
        break;
      }
      offset = update.update_id + 1;
    }
    if (stored) failures = 0;
  }
}

/** An update as the webhook route would have received it: the same bytes go through the same normalize. */
function updateRequest(update: Update): RawRequest {
  return {
    body: new TextEncoder().encode(JSON.stringify(update)),
    headers: new Headers({ 'content-type': 'application/json' }),
    url: 'telegram:getUpdates',
    params: {},
  };
}
