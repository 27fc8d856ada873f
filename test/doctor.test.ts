/**
 * `switchboard doctor` against the fake platform servers, through the real SDKs: every channel and provider
 * healthy, then refused credentials, a dead port, a webhook that points elsewhere, a GitHub App without
 * installations; never a configured secret in what it prints.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { runDoctor } from '../src/doctor.ts';
import { main } from '../src/cli.ts';
import { startFakeAnthropic } from './fakes/anthropic-api.ts';
import { startFakeGithub, type FakeGithub } from './fakes/github-api.ts';
import type { FakeLlm } from './fakes/llm-fake.ts';
import { startFakeOpenAi } from './fakes/openai-api.ts';
import { APP_TOKEN, BOT_TOKEN as SLACK_BOT_TOKEN, SIGNING_SECRET, startFakeSlack, type FakeSlack } from './fakes/slack-api.ts';
import { BOT_TOKEN as TELEGRAM_BOT_TOKEN, BOT_USERNAME, startFakeTelegram, WEBHOOK_SECRET, type FakeTelegram } from './fakes/telegram-api.ts';
import { ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, startFakeTwilio, WHATSAPP_FROM, type FakeTwilio } from './fakes/twilio-api.ts';

const GITHUB_TOKEN = 'ghp_doctorTestToken0123456789abcdefABCD';
const GITHUB_WEBHOOK_SECRET = 'github-webhook-secret-for-doctor';
const ANTHROPIC_KEY = 'sk-ant-doctor-test-key-0123456789';
const OPENAI_KEY = 'sk-doctor-test-openai-key-0123456789';

/** A port nothing listens on: bound once, then closed. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// Doctor opens the database: a fresh PGlite directory takes a while on a busy machine.
describe('doctor against the platforms', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-doctor-live-'));
  let slack: FakeSlack;
  let telegram: FakeTelegram;
  let twilio: FakeTwilio;
  let github: FakeGithub;
  let anthropic: FakeLlm;
  let openai: FakeLlm;
  /** Every secret value any run below configured: none may ever be printed. */
  const secretsUsed = new Set<string>();
  const printed: string[] = [];

  beforeAll(async () => {
    [slack, telegram, twilio, github, anthropic, openai] = await Promise.all([
      startFakeSlack(),
      startFakeTelegram(),
      startFakeTwilio(),
      startFakeGithub(),
      startFakeAnthropic({ key: ANTHROPIC_KEY }),
      startFakeOpenAi({ key: OPENAI_KEY }),
    ]);
    telegram.webhook.url = `${PUBLIC_URL}/telegram/webhook`;
  });
  afterAll(async () => {
    await Promise.all([slack, telegram, twilio, github, anthropic, openai].map((f) => f?.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  function healthy(): Record<string, string> {
    return {
      DATA_DIR: dir,
      ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
      PUBLIC_URL,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_BOT_TOKEN,
      SLACK_APP_TOKEN: APP_TOKEN,
      SLACK_API_URL: slack.apiUrl,
      TELEGRAM_BOT_TOKEN,
      TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      TWILIO_WHATSAPP_FROM: WHATSAPP_FROM,
      TWILIO_API_URL: twilio.apiUrl,
      GITHUB_WEBHOOK_SECRET,
      GITHUB_TOKEN,
      GITHUB_API_URL: github.apiUrl,
      ANTHROPIC_API_KEY: ANTHROPIC_KEY,
      ANTHROPIC_BASE_URL: anthropic.url,
      OPENAI_API_KEY: OPENAI_KEY,
      OPENAI_BASE_URL: openai.url,
    };
  }

  async function doctor(env: Record<string, string>): Promise<{ code: number; lines: string[]; text: string }> {
    for (const [name, value] of Object.entries(env)) if (/TOKEN|SECRET|KEY/.test(name)) secretsUsed.add(value);
    const lines: string[] = [];
    const print = (text: string) => void lines.push(...text.split('\n'));
    const code = await runDoctor(loadConfig(env), { out: print, err: print });
    printed.push(...lines);
    return { code, lines, text: lines.join('\n') };
  }

  it('names every channel and provider OK and exits 0 when all of them answer', async () => {
    const { code, lines, text } = await doctor(healthy());
    expect(lines).toContain('ok    slack: auth.test accepts SLACK_BOT_TOKEN (bot @switchboard in Test Team)');
    expect(lines).toContain('ok    slack: apps.connections.open accepts SLACK_APP_TOKEN (Socket Mode can connect)');
    expect(lines).toContain(`ok    telegram: getMe accepts TELEGRAM_BOT_TOKEN (@${BOT_USERNAME})`);
    expect(lines).toContain(`ok    telegram: getWebhookInfo shows the webhook at ${PUBLIC_URL}/telegram/webhook`);
    expect(lines).toContain('ok    whatsapp: Twilio accepts TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (account "Switchboard test account", active)');
    expect(lines).toContain('ok    github: GET /user accepts GITHUB_TOKEN (switchboard[bot])');
    expect(lines).toContain('ok    github: token scopes: repo, read:org');
    expect(lines).toContain('ok    anthropic: models.list accepts ANTHROPIC_API_KEY');
    expect(lines).toContain('ok    openai: models.list accepts OPENAI_API_KEY');
    expect(lines).toContain('info  LLM providers: anthropic → openai → offline');
    expect(text).not.toMatch(/^FIX/m);
    expect(text).toContain('all checks passed');
    expect(code).toBe(0);
    // It asked the real questions, through the SDKs.
    expect(slack.ok('auth.test').length).toBeGreaterThan(0);
    expect(slack.ok('apps.connections.open').length).toBeGreaterThan(0);
    expect(telegram.ok('getMe').length).toBeGreaterThan(0);
    expect(telegram.ok('getWebhookInfo').length).toBeGreaterThan(0);
    expect(github.requests.some((r) => r.path === '/user' && r.status === 200)).toBe(true);
    expect(anthropic.requests.some((r) => r.path === '/v1/models')).toBe(true);
    expect(openai.requests.some((r) => r.path === '/v1/models')).toBe(true);
  });

  it('says which setting was refused and what to set, and exits 1, when the tokens are wrong', async () => {
    github.revokeToken('ghp_revokedDoctorToken0123456789abcdef');
    const { code, lines, text } = await doctor({
      ...healthy(),
      SLACK_BOT_TOKEN: 'xoxb-wrong-0000-token-doctor',
      TELEGRAM_BOT_TOKEN: '7000000001:AAH-wrong_token-0123456789abcdefghijk',
      TWILIO_AUTH_TOKEN: 'deadbeefdeadbeefdeadbeefdeadbeef',
      GITHUB_TOKEN: 'ghp_revokedDoctorToken0123456789abcdef',
      ANTHROPIC_API_KEY: 'sk-ant-wrong-key-0123456789abcdef',
      OPENAI_API_KEY: 'sk-wrong-openai-key-0123456789abcdef',
    });
    expect(lines).toContain(
      'FIX   slack: SLACK_BOT_TOKEN was refused by auth.test (invalid_auth): set it to the Bot User OAuth Token (xoxb-…) from api.slack.com/apps → OAuth & Permissions, reinstalling the app if it was revoked',
    );
    expect(lines).toContain(
      'FIX   telegram: TELEGRAM_BOT_TOKEN was refused by getMe (401 Unauthorized): set it to the token @BotFather gave (/mybots → API Token)',
    );
    expect(text).toMatch(/^FIX {3}whatsapp: Twilio refused TWILIO_ACCOUNT_SID\/TWILIO_AUTH_TOKEN \(401, error 20003\): set both/m);
    expect(lines).toContain(
      'FIX   github: GET /user refused GITHUB_TOKEN (401 Bad credentials): create a new token (github.com/settings/tokens) and set GITHUB_TOKEN',
    );
    expect(lines).toContain('FIX   anthropic: ANTHROPIC_API_KEY was refused (401): set a valid key from console.anthropic.com → API Keys');
    expect(lines).toContain('FIX   openai: OPENAI_API_KEY was refused (401): set a valid key from platform.openai.com → API keys');
    expect(text).toContain('6 problem(s) to fix');
    expect(code).toBe(1);
  });

  it('checks Slack in Socket Mode (bot and app tokens, no signing secret) with auth.test and apps.connections.open', async () => {
    const { lines, text } = await doctor({ ...healthy(), SLACK_SIGNING_SECRET: '' });
    expect(lines).toContain('ok    slack: auth.test accepts SLACK_BOT_TOKEN (bot @switchboard in Test Team)');
    expect(lines).toContain('ok    slack: apps.connections.open accepts SLACK_APP_TOKEN (Socket Mode can connect)');
    expect(text).not.toMatch(/slack: disabled/);
  });

  it('reports the app token apart from the bot token', async () => {
    const { code, lines } = await doctor({ ...healthy(), SLACK_APP_TOKEN: 'xapp-1-wrong-app-token-0000' });
    expect(lines).toContain('ok    slack: auth.test accepts SLACK_BOT_TOKEN (bot @switchboard in Test Team)');
    expect(lines.find((l) => l.startsWith('FIX   slack:'))).toMatch(
      /^FIX {3}slack: SLACK_APP_TOKEN was refused by apps\.connections\.open \(invalid_auth\): set it to an app-level token \(xapp-…\)/,
    );
    expect(code).toBe(1);
  });

  it('reports an API it cannot reach, without a stack, and exits 1', async () => {
    const port = await deadPort();
    const dead = `http://127.0.0.1:${port}`;
    const { code, lines, text } = await doctor({
      ...healthy(),
      SLACK_API_URL: `${dead}/api/`,
      TELEGRAM_API_ROOT: dead,
      TWILIO_API_URL: dead,
      GITHUB_API_URL: dead,
      ANTHROPIC_BASE_URL: dead,
      OPENAI_BASE_URL: `${dead}/v1`,
    });
    const hint = ' — check outbound HTTPS/proxy and the *_API_URL/*_BASE_URL setting';
    expect(lines).toContain(`FIX   slack: cannot reach ${dead}/api/: ECONNREFUSED${hint}`);
    expect(lines).toContain(`FIX   telegram: cannot reach ${dead}: ECONNREFUSED${hint}`);
    expect(lines).toContain(`FIX   whatsapp: cannot reach ${dead}: ECONNREFUSED${hint}`);
    expect(lines).toContain(`FIX   github: cannot reach ${dead}: ECONNREFUSED${hint}`);
    expect(lines).toContain(`FIX   anthropic: cannot reach ${dead}: ECONNREFUSED${hint}`);
    expect(lines).toContain(`FIX   openai: cannot reach ${dead}/v1: ECONNREFUSED${hint}`);
    expect(text).not.toMatch(/^\s+at /m);
    expect(code).toBe(1);
  });

  it('reports an API that accepts the connection but never answers, within the check timeout', async () => {
    const sockets: import('node:net').Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    try {
      const { code, lines } = await doctor({ ...healthy(), SLACK_API_URL: `${url}/api/`, TWILIO_API_URL: url });
      expect(lines).toContain(`FIX   slack: ${url}/api/ did not answer within 5 s — check outbound HTTPS/proxy`);
      expect(lines).toContain(`FIX   whatsapp: ${url} did not answer within 5 s — check outbound HTTPS/proxy`);
      expect(lines).toContain(`ok    telegram: getMe accepts TELEGRAM_BOT_TOKEN (@${BOT_USERNAME})`);
      expect(code).toBe(1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('reports an address that answers, but not as the API does', async () => {
    const { code, lines } = await doctor({ ...healthy(), SLACK_API_URL: `${slack.apiUrl.replace(/\/api\/$/, '')}/elsewhere/` });
    expect(lines.find((l) => l.startsWith('FIX   slack:'))).toMatch(/answered HTTP 404, not like the platform's API: check the \*_API_URL/);
    expect(code).toBe(1);
  });

  it('compares the Telegram webhook with PUBLIC_URL, and in polling mode warns about a webhook that is set', async () => {
    telegram.webhook.url = 'https://old-host.example.org/telegram/webhook';
    try {
      const webhook = await doctor(healthy());
      expect(webhook.lines).toContain(
        `FIX   telegram: the webhook Telegram has is "https://old-host.example.org/telegram/webhook", not ${PUBLIC_URL}/telegram/webhook: run \`npx switchboard telegram set-webhook\``,
      );
      expect(webhook.code).toBe(1);

      const polling = await doctor({ ...healthy(), TELEGRAM_MODE: 'polling' });
      expect(polling.lines.find((l) => l.startsWith('WARN  telegram:'))).toContain(
        'a webhook is set (https://old-host.example.org/telegram/webhook) although TELEGRAM_MODE=polling',
      );
      expect(polling.code).toBe(0);

      telegram.webhook.url = '';
      const clean = await doctor({ ...healthy(), TELEGRAM_MODE: 'polling' });
      expect(clean.lines).toContain('ok    telegram: no webhook is set, as polling needs');
    } finally {
      telegram.webhook.url = `${PUBLIC_URL}/telegram/webhook`;
    }
  });

  it('checks a GitHub App and its installations, and a token without the repo scope', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const appFake = await startFakeGithub();
    try {
      appFake.enableApp('4242', publicKey.export({ type: 'spki', format: 'pem' }).toString(), { installations: { 'acme/shop': 77, 'acme/web': 77 } });
      const env = { ...healthy(), GITHUB_TOKEN: '', GITHUB_APP_ID: '4242', GITHUB_PRIVATE_KEY: pem, GITHUB_API_URL: appFake.apiUrl };
      const installed = await doctor(env);
      expect(installed.lines).toContain('ok    github: GET /app accepts GITHUB_APP_ID 4242 and GITHUB_PRIVATE_KEY (App "Switchboard")');
      expect(installed.lines).toContain('ok    github: installed on acme');
      expect(installed.code).toBe(0);

      appFake.enableApp('4242', publicKey.export({ type: 'spki', format: 'pem' }).toString(), { installations: {} });
      const none = await doctor(env);
      expect(none.lines).toContain(
        'FIX   github: the App has no installations: install it on your repositories (https://github.com/apps/switchboard/installations/new)',
      );
      expect(none.code).toBe(1);

      const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const wrongKey = await doctor({ ...env, GITHUB_PRIVATE_KEY: other });
      expect(wrongKey.lines).toContain(
        "FIX   github: GET /app refused the App's JWT (401): check GITHUB_APP_ID is the App ID (a number) and GITHUB_PRIVATE_KEY the .pem generated for that App",
      );
      expect(wrongKey.code).toBe(1);
    } finally {
      await appFake.close();
    }

    github.scopes = 'read:user';
    try {
      const { lines, code } = await doctor(healthy());
      expect(lines).toContain(
        'FIX   github: GITHUB_TOKEN has scopes "read:user" but commenting on pull requests needs repo (or public_repo): create a token with that scope',
      );
      expect(code).toBe(1);
    } finally {
      github.scopes = 'repo, read:org';
    }
  });

  it('runs as the `doctor` verb of the CLI with the same exit code', async () => {
    const lines: string[] = [];
    const print = (text: string) => void lines.push(text);
    expect(await main(['doctor'], { out: print, err: print, env: { ...healthy(), SLACK_BOT_TOKEN: 'xoxb-wrong-cli-token-doctor' } })).toBe(1);
    secretsUsed.add('xoxb-wrong-cli-token-doctor');
    printed.push(...lines);
    expect(lines.join('\n')).toMatch(/^FIX {3}slack: SLACK_BOT_TOKEN was refused by auth\.test \(invalid_auth\)/m);
  });

  it('never printed a configured secret, in any run above', () => {
    expect(printed.length).toBeGreaterThan(50);
    const all = printed.join('\n');
    for (const secret of [...secretsUsed].filter((s) => s.length >= 8)) {
      expect(all, `a secret was printed: ${secret.slice(0, 4)}…`).not.toContain(secret);
    }
    expect(all).not.toMatch(/\/bot\d+:/);
  });
});
