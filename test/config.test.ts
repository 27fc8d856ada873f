import { describe, expect, it } from 'vitest';
import { ConfigError, hookSecretEnvName, loadConfig } from '../src/config.ts';

describe('config', () => {
  it('starts with no settings at all: embedded database, offline provider, every platform channel disabled', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 3000, host: '127.0.0.1', dataDir: './.data', databaseUrl: undefined, adminToken: undefined });
    expect(config.llm.providers).toEqual(['offline']);
    expect([config.slack.enabled, config.telegram.enabled, config.whatsapp.enabled, config.github.enabled]).toEqual([false, false, false, false]);
    expect(config.slack.requiredEnv).toEqual(['SLACK_SIGNING_SECRET', 'SLACK_BOT_TOKEN']);
    // When the database is slow or gone: the documented bounds.
    expect(config.db).toEqual({ connectTimeoutSeconds: 3, statementTimeoutSeconds: 15, acquireTimeoutMs: 3000 });
  });

  it('reports every bad variable at once, each with what to do', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://db', HOOK_SECRET_CI: 'plain', ADMIN_TOKEN: 'short', LOG_LEVEL: 'loud' });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems).toHaveLength(5);
    expect(error!.message).toMatch(/PORT: must be a whole number/);
    expect(error!.message).toMatch(/DATABASE_URL: must be a postgres:\/\/ URL/);
    expect(error!.message).toMatch(/HOOK_SECRET_CI: must be a Standard Webhooks secret/);
    expect(error!.message).toMatch(/ADMIN_TOKEN: must be at least 16 characters; generate one/);
    expect(error!.message).toMatch(/LOG_LEVEL/);
  });

  it('reports settings that need each other together with malformed ones', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({ PORT: 'x', LLM_PROVIDERS: 'openai', GITHUB_APP_ID: '123' });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error!.problems).toHaveLength(3);
    expect(error!.message).toMatch(/PORT: must be a whole number/);
    expect(error!.message).toMatch(/OPENAI_API_KEY: LLM_PROVIDERS lists openai/);
    expect(error!.message).toMatch(/GITHUB_PRIVATE_KEY: is required with GITHUB_APP_ID/);
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' })).toMatchObject({ port: 3000, databaseUrl: undefined });
  });

  it('enables a channel only when all its secrets are set', () => {
    expect(loadConfig({ SLACK_SIGNING_SECRET: 's' }).slack.enabled).toBe(false);
    expect(loadConfig({ SLACK_SIGNING_SECRET: 's', SLACK_BOT_TOKEN: 'xoxb-1' }).slack.enabled).toBe(true);
    expect(loadConfig({ GITHUB_WEBHOOK_SECRET: 's', GITHUB_TOKEN: 't' }).github.enabled).toBe(true);
  });

  it('enables Slack over Socket Mode with the bot and app tokens alone: no request is signed, so no signing secret', () => {
    expect(loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1-A1-2' }).slack).toMatchObject({
      enabled: true,
      requiredEnv: ['SLACK_BOT_TOKEN', 'SLACK_APP_TOKEN'],
    });
    expect(loadConfig({ SLACK_APP_TOKEN: 'xapp-1-A1-2' }).slack).toMatchObject({ enabled: false, requiredEnv: ['SLACK_BOT_TOKEN', 'SLACK_APP_TOKEN'] });
    // The bot token pasted into the app token's place: said at start, with where the right one is.
    expect(() => loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xoxb-1' })).toThrow(
      /SLACK_APP_TOKEN: must be an app-level token \(xapp-…\): api\.slack\.com\/apps → your app → Basic Information → App-Level Tokens/,
    );
  });

  it('enables Telegram with token and webhook secret, or in polling mode with the token alone', () => {
    expect(loadConfig({ TELEGRAM_BOT_TOKEN: '1:a' }).telegram).toMatchObject({
      mode: 'webhook',
      enabled: false,
      requiredEnv: ['TELEGRAM_BOT_TOKEN', 'TELEGRAM_WEBHOOK_SECRET'],
    });
    expect(loadConfig({ TELEGRAM_BOT_TOKEN: '1:a', TELEGRAM_WEBHOOK_SECRET: 's' }).telegram.enabled).toBe(true);
    expect(loadConfig({ TELEGRAM_MODE: 'polling', TELEGRAM_BOT_TOKEN: '1:a' }).telegram).toMatchObject({
      mode: 'polling',
      enabled: true,
      requiredEnv: ['TELEGRAM_BOT_TOKEN'],
    });
    expect(loadConfig({ TELEGRAM_MODE: 'polling' }).telegram).toMatchObject({ enabled: false, requiredEnv: ['TELEGRAM_BOT_TOKEN'] });
    expect(() => loadConfig({ TELEGRAM_MODE: 'poll' })).toThrow(/TELEGRAM_MODE/);
  });

  it('maps hook sources to their secret variables', () => {
    const secret = `whsec_${Buffer.from('x'.repeat(32)).toString('base64')}`;
    const config = loadConfig({ HOOK_SECRET_MY_SOURCE: secret });
    expect(hookSecretEnvName('my-source')).toBe('HOOK_SECRET_MY_SOURCE');
    expect(config.hookSecrets[hookSecretEnvName('my-source')]).toBe(secret);
  });

  it('orders LLM providers: configured ones, then offline; an explicit list needs its keys', () => {
    expect(loadConfig({ OPENAI_API_KEY: 'k', ANTHROPIC_API_KEY: 'k' }).llm.providers).toEqual(['anthropic', 'openai', 'offline']);
    expect(loadConfig({ LLM_PROVIDERS: 'offline' }).llm.providers).toEqual(['offline']);
    expect(() => loadConfig({ LLM_PROVIDERS: 'openai,offline' })).toThrow(/OPENAI_API_KEY: LLM_PROVIDERS lists openai/);
    expect(() => loadConfig({ LLM_PROVIDERS: 'gemini' })).toThrow(/one of anthropic, openai, offline/);
  });
});
