/** `npx switchboard telegram set-webhook|info`, run as an operator runs them, against the fake Bot API. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/process.ts';
import { BOT_TOKEN, startFakeTelegram, WEBHOOK_SECRET, type FakeTelegram } from './fakes/telegram-api.ts';

describe('switchboard telegram', () => {
  let fake: FakeTelegram;
  let env: Record<string, string>;
  beforeAll(async () => {
    fake = await startFakeTelegram();
    env = { TELEGRAM_BOT_TOKEN: BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET, TELEGRAM_API_ROOT: fake.apiRoot, PUBLIC_URL: 'https://sb.example.com/' };
  });
  afterAll(async () => {
    await fake?.close();
  });

  it('set-webhook registers PUBLIC_URL/telegram/webhook with the secret and only the updates we handle', async () => {
    const { code, output } = await runCli(['telegram', 'set-webhook'], env);
    expect(code).toBe(0);
    const [call] = fake.ok('setWebhook');
    expect(call!.args).toEqual({ url: 'https://sb.example.com/telegram/webhook', secret_token: WEBHOOK_SECRET, allowed_updates: ['message', 'callback_query'] });
    expect(output).toContain('https://sb.example.com/telegram/webhook');
    expect(fake.ok('setMyCommands')[0]!.args.commands.map((c: any) => c.command)).toEqual(['help', 'ask', 'summarize', 'status']);
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
