/** The `telegram` channel: Bot API updates at `POST /telegram/webhook`, answered through grammY. */
import { Bot } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';
import type { Config } from '../../src/config.ts';
import type { ChannelAdapter } from '../../src/ports.ts';
import { normalizeTelegram } from './normalize.ts';
import { createTelegramSender } from './reply.ts';
import { verifyTelegram } from './verify.ts';

export { CALLBACK_DATA_BYTES, conversationKey, GROUP_COMMANDS, normalizeTelegram, parseVoteData, voteData } from './normalize.ts';
export type { NormalizeOptions, TelegramReplyRef } from './normalize.ts';
export { createTelegramSender, feedbackKeyboard, MESSAGE_CHARS, parseTarget, renderHtml, replyParts, splitText, TelegramRateLimitedError } from './reply.ts';
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

export type TelegramAdapterOptions = {
  now?: () => Date;
  /** The bot's getMe answer when already known; otherwise it is fetched once, the first time a group message needs it. */
  botInfo?: UserFromGetMe;
  /** Seconds one reply may wait out 429s before the queue takes over (default 30). */
  maxRateLimitWaitSeconds?: number;
  sleep?(ms: number): Promise<void>;
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
  if (config.enabled && config.mode === 'polling') {
    // Better a clear refusal at start than a bot that silently never hears anything.
    throw new Error('TELEGRAM_MODE=polling is not supported yet: unset TELEGRAM_MODE (webhook) and run `npx switchboard telegram set-webhook`');
  }
  if (!config.enabled || botId === undefined) {
    if (config.enabled) throw new Error('TELEGRAM_BOT_TOKEN does not look like a bot token (<digits>:<secret>); copy it again from @BotFather');
    return { channel: 'telegram', requiredEnv: config.requiredEnv, enabled: false, verify: disabled, normalize: disabled, reply: disabled, postTo: disabled };
  }

  // botInfo is configured rather than fetched at start (no getMe per process start); without it the username is
  // fetched once, lazily, because only group messages with a mention or /command@name need it. A failure is not
  // cached: the update is answered 500, Telegram redelivers it, and the next attempt asks again.
  const bot = createTelegramBot(config, opts.botInfo);
  let fetching: Promise<string> | undefined;
  function username(): Promise<string> {
    if (bot.isInited()) return Promise.resolve(bot.botInfo.username);
    fetching ??= bot.api.getMe().then(
      (me) => {
        bot.botInfo = me;
        return me.username;
      },
      (err: unknown) => {
        fetching = undefined;
        throw new Error(`Telegram getMe failed, so a group message cannot be matched to this bot: ${(err as Error).message}`, { cause: err });
      },
    );
    return fetching;
  }

  const sender = createTelegramSender({ api: bot.api, maxWaitSeconds: opts.maxRateLimitWaitSeconds, sleep: opts.sleep });
  return {
    channel: 'telegram',
    requiredEnv: config.requiredEnv,
    enabled: true,
    verify: (req) => verifyTelegram(req, config.webhookSecret),
    normalize: (req) => normalizeTelegram(req, { now, botId, username }),
    // Telegram redelivers on anything but 2xx: once the update is stored, it is 200 whether new or a duplicate.
    ack: (_envelopes, results) => Response.json({ ok: true, duplicate: results.every((r) => r.duplicate) }, { status: 200 }),
    reply: sender.reply,
    postTo: sender.postTo,
    update: sender.update,
  };
}
