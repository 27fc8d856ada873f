/** `npx switchboard telegram set-webhook|info` through the CLI's main, against the fake Bot API. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_INFO_SETTING } from '../channels/telegram/index.ts';
import { openSettings } from '../db/index.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { startSwitchboard } from '../src/server.ts';
import { runCliInProcess as runCli } from './support/cli.ts';
import { ADMIN_TOKEN, RELAXED_ACCESS_ENV } from './support/switchboard.ts';
import { waitFor } from './support/wait.ts';
import { BOT_ID, BOT_TOKEN, BOT_USERNAME, messageUpdate, startFakeTelegram, telegramRequest, WEBHOOK_SECRET, type FakeTelegram } from './fakes/telegram-api.ts';

// set-webhook opens the embedded database (and migrates it); on a busy machine that takes a while.
describe('switchboard telegram', { timeout: 180_000 }, () => {
  let fake: FakeTelegram;
  let env: Record<string, string>;
  let dataDir: string;
  beforeAll(async () => {
    fake = await startFakeTelegram();
    dataDir = mkdtempSync(join(tmpdir(), 'switchboard-telegram-cli-'));
    env = {
      TELEGRAM_BOT_TOKEN: BOT_TOKEN,
      TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
      TELEGRAM_API_ROOT: fake.apiRoot,
      PUBLIC_URL: 'https://sb.example.com/',
      DATA_DIR: dataDir,
    };
  });
  afterAll(async () => {
    await fake?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('set-webhook registers PUBLIC_URL/telegram/webhook with the secret and only the updates we handle', async () => {
    const { code, output } = await runCli(['telegram', 'set-webhook'], env);
    expect(code).toBe(0);
    const [call] = fake.ok('setWebhook');
    expect(call!.args).toEqual({
      url: 'https://sb.example.com/telegram/webhook',
      secret_token: WEBHOOK_SECRET,
      allowed_updates: ['message', 'callback_query'],
    });
    expect(output).toContain('https://sb.example.com/telegram/webhook');
    expect(fake.ok('setMyCommands')[0]!.args.commands.map((c: any) => c.command)).toEqual(['help', 'ask', 'summarize', 'status']);
  });

  it('set-webhook stores the getMe answer: a Switchboard started afterwards answers a group @mention without asking getMe', async () => {
    // The set-webhook above asked getMe once and stored what Telegram said.
    expect(fake.ok('getMe')).toHaveLength(1);
    const settings = await openSettings({ dataDir });
    const stored = JSON.parse((await settings.get(BOT_INFO_SETTING))!);
    await settings.close();
    expect(stored).toMatchObject({ id: BOT_ID, username: BOT_USERNAME, is_bot: true });

    const calls = fake.calls.length;
    const sb = await startSwitchboard(loadConfig({ ...RELAXED_ACCESS_ENV, ...env, ADMIN_TOKEN, LOG_LEVEL: 'silent' }), {
      listen: false,
      logger: createLogger('silent'),
    });
    try {
      const chat = { id: -100_123_456_789, type: 'supergroup' as const, title: 'Ops' };
      const res = await sb.app.request('/telegram/webhook', telegramRequest(messageUpdate(`@${BOT_USERNAME} what is our deploy process?`, { chat })));
      expect(res.status).toBe(200);
      const answers = await waitFor(
        () => fake.ok('sendMessage').filter((c) => c.args.chat_id === chat.id),
        (sent) => sent.length > 0,
      );
      // Answered, so the mention was matched to this bot's username: from the database, not from getMe.
      expect(answers).toHaveLength(1);
      expect(fake.calls.slice(calls).filter((c) => c.method === 'getMe')).toEqual([]);
    } finally {
      await sb.stop();
    }
  });

  it('set-webhook refuses in polling mode, where the server removes any webhook', async () => {
    const polling = await runCli(['telegram', 'set-webhook'], { ...env, TELEGRAM_MODE: 'polling' });
    expect(polling.code).not.toBe(0);
    expect(polling.output).toMatch(/TELEGRAM_MODE=polling: .*unset TELEGRAM_MODE/);
  });

  it('other verbs in polling mode neither poll nor remove the webhook: only a serving process receives', async () => {
    const calls = fake.calls.length;
    const { code } = await runCli(['agents', 'list'], { ...env, TELEGRAM_MODE: 'polling', ADMIN_TOKEN });
    expect(code).toBe(0);
    expect(fake.calls.slice(calls).map((c) => c.method)).toEqual([]);
    expect(fake.webhook.url).toBe('https://sb.example.com/telegram/webhook');
  });

  it('info prints the url, the pending update count and the last error', async () => {
    fake.webhook.pending_update_count = 3;
    fake.webhook.last_error_message = 'Wrong response from the webhook: 401 Unauthorized';
    const { code, output } = await runCli(['telegram', 'info'], env);
    expect(code).toBe(0);
    expect(output).toContain('url: https://sb.example.com/telegram/webhook');
    expect(output).toContain('pending_update_count: 3');
    expect(output).toContain('last_error_message: Wrong response from the webhook: 401 Unauthorized');
  });

  it('says which settings are missing, and what to do, before calling Telegram', async () => {
    const calls = fake.calls.length;
    const noUrl = await runCli(['telegram', 'set-webhook'], { TELEGRAM_BOT_TOKEN: BOT_TOKEN, TELEGRAM_API_ROOT: fake.apiRoot });
    expect(noUrl.code).not.toBe(0);
    expect(noUrl.output).toMatch(/PUBLIC_URL is not set/);
    expect(noUrl.output).toMatch(/TELEGRAM_WEBHOOK_SECRET is not set/);
    const badSecret = await runCli(['telegram', 'set-webhook'], { ...env, TELEGRAM_WEBHOOK_SECRET: 'has spaces!' });
    expect(badSecret.code).not.toBe(0);
    expect(badSecret.output).toMatch(/TELEGRAM_WEBHOOK_SECRET may only use/);
    const noToken = await runCli(['telegram', 'info'], { TELEGRAM_API_ROOT: fake.apiRoot });
    expect(noToken.code).not.toBe(0);
    expect(noToken.output).toMatch(/TELEGRAM_BOT_TOKEN is not set/);
    expect(fake.calls.length).toBe(calls);
  });

  it('reports a token Telegram refuses, and an unknown verb', async () => {
    const refused = await runCli(['telegram', 'info'], { ...env, TELEGRAM_BOT_TOKEN: '7000000001:not-the-token' });
    expect(refused.code).not.toBe(0);
    expect(refused.output).toMatch(/401.*check TELEGRAM_BOT_TOKEN/s);
    const unknown = await runCli(['telegram', 'delete-everything'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.output).toMatch(/telegram takes: set-webhook \| info/);
  });
});
