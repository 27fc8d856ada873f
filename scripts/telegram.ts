/**
 * Telegram operator commands: `npx switchboard telegram set-webhook` registers PUBLIC_URL/telegram/webhook with
 * the secret token and the update types we handle, and stores who the bot is (getMe) so no server process has to
 * ask; `telegram info` shows what Telegram has (getWebhookInfo). Also runnable as `node scripts/telegram.ts set-webhook|info`.
 */
import type { UserFromGetMe } from 'grammy/types';
import { ALLOWED_UPDATES, BOT_COMMANDS, BOT_INFO_SETTING, createTelegramBot, SECRET_TOKEN } from '../channels/telegram/index.ts';
import { openSettings } from '../db/index.ts';
import { ConfigError, loadConfig, type Config } from '../src/config.ts';
import { CONSOLE_OUTPUT, type Output } from '../src/output.ts';

export const TELEGRAM_VERBS = ['set-webhook', 'info'] as const;

/** Settings a verb needs, each with what to do about it; empty when all are there. */
function missing(config: Config, verb: (typeof TELEGRAM_VERBS)[number]): string[] {
  const problems: string[] = [];
  if (!config.telegram.botToken) problems.push('TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather (/newbot) and set the token it gives you');
  if (verb === 'set-webhook') {
    if (config.telegram.mode === 'polling') {
      problems.push(
        'TELEGRAM_MODE=polling: the server fetches updates with getUpdates and removes any webhook when it starts; unset TELEGRAM_MODE to use a webhook',
      );
    }
    if (!config.publicUrl)
      problems.push('PUBLIC_URL is not set: set it to the public https:// address of this server; Telegram posts to PUBLIC_URL/telegram/webhook');
    if (!config.telegram.webhookSecret) {
      problems.push('TELEGRAM_WEBHOOK_SECRET is not set: generate one with `openssl rand -hex 32`; Telegram sends it back with every update');
    } else if (!SECRET_TOKEN.test(config.telegram.webhookSecret)) {
      problems.push('TELEGRAM_WEBHOOK_SECRET may only use A-Z, a-z, 0-9, _ and - (1–256 characters); generate one with `openssl rand -hex 32`');
    }
  }
  return problems;
}

function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return /\b401\b|Unauthorized/.test(message) ? `${message}; check TELEGRAM_BOT_TOKEN (BotFather → /mybots → API Token)` : message;
}

/** Keeps the bot's getMe answer in the database, where every process reads it at start. Best effort: without it each process asks once. */
async function storeBotInfo(config: Config, me: UserFromGetMe, io: Output): Promise<void> {
  try {
    const settings = await openSettings({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 1 });
    try {
      await settings.put(BOT_INFO_SETTING, JSON.stringify(me));
    } finally {
      await settings.close();
    }
    io.out(`Bot details stored in the database: @${me.username} (id ${me.id}); Switchboard will not ask getMe.`);
  } catch (err) {
    io.err(`warning: could not store the bot details in the database (${(err as Error).message}); each Switchboard process asks Telegram (getMe) once instead`);
  }
}

/** Runs a `telegram` verb and returns the exit code; output goes to stdout, problems to stderr. */
export async function runTelegramCommand(config: Config, verb: string, io: Output = CONSOLE_OUTPUT): Promise<number> {
  if (!(TELEGRAM_VERBS as readonly string[]).includes(verb)) {
    io.err(`telegram takes: ${TELEGRAM_VERBS.join(' | ')}`);
    return 2;
  }
  const problems = missing(config, verb as (typeof TELEGRAM_VERBS)[number]);
  if (problems.length) {
    io.err(`Cannot run telegram ${verb}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    return 1;
  }
  const bot = createTelegramBot(config.telegram);

  if (verb === 'set-webhook') {
    const url = `${config.publicUrl}/telegram/webhook`;
    if (!url.startsWith('https://')) io.err(`warning: ${url} is not https; api.telegram.org only delivers to https URLs on ports 443, 80, 88 or 8443`);
    let me: UserFromGetMe;
    try {
      me = await bot.api.getMe();
    } catch (err) {
      io.err(`getMe failed: ${describe(err)}`);
      return 1;
    }
    try {
      await bot.api.setWebhook(url, { secret_token: config.telegram.webhookSecret, allowed_updates: [...ALLOWED_UPDATES] });
    } catch (err) {
      io.err(`setWebhook failed: ${describe(err)}`);
      return 1;
    }
    io.out(`Webhook set: Telegram now posts ${ALLOWED_UPDATES.join(' and ')} updates to ${url} with the secret token.`);
    try {
      // The menu of commands users see when typing "/": helpful, not essential.
      await bot.api.setMyCommands(BOT_COMMANDS);
      io.out(`Command menu set: ${BOT_COMMANDS.map((c) => `/${c.command}`).join(' ')}`);
    } catch (err) {
      io.err(`warning: setMyCommands failed (${describe(err)}); the webhook is set, only the command menu is missing`);
    }
    await storeBotInfo(config, me, io);
    return 0;
  }

  try {
    const info = await bot.api.getWebhookInfo();
    io.out(`url: ${info.url || '(none: run `npx switchboard telegram set-webhook`)'}`);
    io.out(`pending_update_count: ${info.pending_update_count}`);
    if (info.allowed_updates) io.out(`allowed_updates: ${info.allowed_updates.join(', ')}`);
    if (info.last_error_message) {
      const at = info.last_error_date ? ` (at ${new Date(info.last_error_date * 1000).toISOString()})` : '';
      io.out(`last_error_message: ${info.last_error_message}${at}`);
    } else {
      io.out('last_error_message: none');
    }
    const expected = config.publicUrl ? `${config.publicUrl}/telegram/webhook` : undefined;
    if (expected && info.url && info.url !== expected) io.out(`warning: the webhook points elsewhere; expected ${expected} (run set-webhook)`);
    return 0;
  } catch (err) {
    io.err(`getWebhookInfo failed: ${describe(err)}`);
    return 1;
  }
}

if (import.meta.main) {
  try {
    process.exitCode = await runTelegramCommand(loadConfig(), process.argv[2] ?? '');
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : describe(err));
    process.exitCode = 1;
  }
}
