/**
 * `switchboard doctor`: checks what can be checked from here and says what to fix. Every enabled channel and
 * LLM provider is asked one cheap question through its own SDK (pointed at the `*_API_URL` settings), all at
 * once and each within CHECK_TIMEOUT_MS; a refusal or an unreachable API is a line to fix, never a throw.
 * Every line goes through the redaction layer, so no configured secret (or a URL carrying one) is printed.
 */
import { Anthropic } from '@anthropic-ai/sdk';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { LogLevel, WebClient } from '@slack/web-api';
import { Api, GrammyError } from 'grammy';
import { OpenAI } from 'openai';
import twilio from 'twilio';
import { RedirectingRequestClient } from '../channels/whatsapp/reply.ts';
import { openStore } from '../db/index.ts';
import type { Config } from './config.ts';
import { deprecationAdvice, deprecationOf, providerChain } from './llm/index.ts';
import { configuredSecrets, createRedactor } from './redact.ts';
import { CONSOLE_OUTPUT, type Output } from './output.ts';

/** How long one live check may take before it is reported as unanswered. */
export const CHECK_TIMEOUT_MS = 5000;

type Level = 'ok' | 'fix' | 'info' | 'warn';
type Finding = { level: Level; text: string };
/** One live check: what it is called in the output, the URL it talks to, and what a refusal means. */
type Check = { name: string; url: string; run: (signal: AbortSignal) => Promise<Finding[]>; refused: (err: unknown) => string | undefined };

const PREFIX: Record<Level, string> = { ok: 'ok    ', fix: 'FIX   ', info: 'info  ', warn: 'WARN  ' };
const ok = (text: string): Finding => ({ level: 'ok', text });
const fix = (text: string): Finding => ({ level: 'fix', text });
const info = (text: string): Finding => ({ level: 'info', text });
const warn = (text: string): Finding => ({ level: 'warn', text });

export async function runDoctor(config: Config, io: Output = CONSOLE_OUTPUT): Promise<number> {
  const redactor = createRedactor(configuredSecrets(config));
  let problems = 0;
  const print = (f: Finding) => {
    if (f.level === 'fix') problems++;
    io.out(redactor.text(`${PREFIX[f.level]}${f.text}`));
  };

  print(ok('configuration is valid'));
  // The live checks start now and run while the database is opened; their lines follow in a fixed order.
  const live = liveChecks(config).map((check) => runCheck(check));
  try {
    const opened = await openStore({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      poolSize: 2,
      queue: { maxAttempts: 1, retryDelaySeconds: 1, jobTimeoutSeconds: 60, supervise: false, onError: () => {} },
    });
    const ready = await opened.store.ready();
    if (ready.database && ready.migrations) print(ok(`database (${opened.store.kind}) answers and migrations are applied`));
    else print(fix(`database (${opened.store.kind}): ${ready.error ?? 'migrations are not applied; run switchboard migrate'}`));
    print(info(`queue depth: ${await opened.store.queueDepth()}`));
    await opened.close();
  } catch (err) {
    print(fix(`database: ${(err as Error).message}`));
  }

  const channels = { slack: config.slack, telegram: config.telegram, whatsapp: config.whatsapp, github: config.github };
  for (const [name, c] of Object.entries(channels)) {
    if (!c.enabled) print(info(`${name}: disabled; set ${c.requiredEnv.join(', ')} to enable it`));
  }
  const results = await Promise.all(live);
  const providerResults = results.splice(results.length - llmChecked(config).length);
  for (const f of results.flat()) print(f);

  const hooks = Object.keys(config.hookSecrets);
  print(
    info(
      hooks.length
        ? `hooks: ${hooks.map((k) => `/hooks/${k.slice(12).toLowerCase()}`).join(', ')}`
        : 'hooks: none; set HOOK_SECRET_<SOURCE> to accept signed webhooks at /hooks/<source>',
    ),
  );
  const chain = providerChain(config.llm);
  print(info(`LLM providers: ${chain.join(' → ')}`));
  for (const f of providerResults.flat()) print(f);
  for (const provider of chain) {
    // Works today, but not for long: said plainly, without failing the check.
    const deprecated = provider === 'offline' ? undefined : deprecationOf(provider, config.llm[provider].model);
    if (deprecated) print(warn(deprecationAdvice(deprecated)));
  }
  if (!config.publicUrl) print(info('PUBLIC_URL is not set: platforms that call back (Twilio signatures, manifests) need it'));
  io.out(problems ? `\n${problems} problem(s) to fix` : '\nall checks passed');
  return problems ? 1 : 0;
}

/** The LLM providers in the chain that have a key to check. */
function llmChecked(config: Config): ('anthropic' | 'openai')[] {
  return providerChain(config.llm).filter((p) => p !== 'offline' && !!config.llm[p].apiKey) as ('anthropic' | 'openai')[];
}

/** Channel checks first (in the order doctor lists channels), then one per LLM provider with a key. */
function liveChecks(config: Config): Check[] {
  const checks: Check[] = [];
  if (config.slack.enabled) checks.push(slackCheck(config.slack));
  if (config.telegram.enabled) checks.push(telegramCheck(config.telegram, config.publicUrl));
  if (config.whatsapp.enabled) checks.push(twilioCheck(config.whatsapp));
  if (config.github.enabled) checks.push(githubCheck(config.github));
  for (const provider of llmChecked(config)) checks.push(provider === 'anthropic' ? anthropicCheck(config.llm.anthropic) : openaiCheck(config.llm.openai));
  return checks;
}

/** Runs one check within the timeout; whatever goes wrong becomes a finding that says what to do. */
async function runCheck(check: Check): Promise<Finding[]> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve('timeout');
    }, CHECK_TIMEOUT_MS);
  });
  try {
    const outcome = await Promise.race([check.run(controller.signal), timeout]);
    if (outcome === 'timeout') return [fix(`${check.name}: ${check.url} did not answer within ${CHECK_TIMEOUT_MS / 1000} s — check outbound HTTPS/proxy`)];
    return outcome;
  } catch (err) {
    if (controller.signal.aborted || isTimeout(err))
      return [fix(`${check.name}: ${check.url} did not answer within ${CHECK_TIMEOUT_MS / 1000} s — check outbound HTTPS/proxy`)];
    const code = networkCode(err);
    if (code)
      return [
        fix(
          `${check.name}: cannot reach ${check.url}: ${code} — check outbound HTTPS/proxy${isDefaultUrl(check.url) ? '' : ' and the *_API_URL/*_BASE_URL setting'}`,
        ),
      ];
    const refused = check.refused(err);
    if (refused) return [fix(`${check.name}: ${refused}`)];
    const status = httpStatus(err);
    if (status)
      return [
        fix(
          `${check.name}: ${check.url} answered HTTP ${status}, not like the platform's API: check the *_API_URL/*_BASE_URL setting and any proxy in between`,
        ),
      ];
    return [fix(`${check.name}: ${firstLine(err)}`)];
  } finally {
    clearTimeout(timer);
  }
}

const DEFAULT_HOSTS = ['slack.com', 'api.telegram.org', 'api.twilio.com', 'api.github.com', 'api.anthropic.com', 'api.openai.com'];
const isDefaultUrl = (url: string) => DEFAULT_HOSTS.includes(new URL(url).hostname);

/** The error, its causes and the errors SDKs wrap (axios' `original`, grammY's `error`), outermost first. */
function* causes(err: unknown, depth = 0): Generator<Record<string, unknown>> {
  if (depth > 6 || err === null || typeof err !== 'object') return;
  const e = err as Record<string, unknown>;
  yield e;
  for (const key of ['cause', 'original', 'error']) if (e[key] && e[key] !== err) yield* causes(e[key], depth + 1);
  if (Array.isArray(e.errors)) for (const inner of e.errors) yield* causes(inner, depth + 1);
}

const NETWORK_CODE =
  /\b(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE|ETIMEDOUT|ECONNABORTED|UND_ERR_[A-Z_]+|CERT_[A-Z_]+|UNABLE_TO_[A-Z_]+|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_[A-Z_]+)\b/;

/** The system error code of a failed connection (ECONNREFUSED, ENOTFOUND, a TLS failure …), if that is what this is. */
function networkCode(err: unknown): string | undefined {
  for (const e of causes(err)) {
    if (typeof e.code === 'string' && NETWORK_CODE.test(e.code)) return e.code;
  }
  for (const e of causes(err)) {
    const m = typeof e.message === 'string' ? NETWORK_CODE.exec(e.message) : null;
    if (m) return m[1];
  }
  return undefined;
}

function isTimeout(err: unknown): boolean {
  for (const e of causes(err)) {
    if (e.name === 'TimeoutError' || e.name === 'AbortError' || e.name === 'APIConnectionTimeoutError' || e.name === 'APIUserAbortError') return true;
    if (typeof e.message === 'string' && /timeout of \d+ms exceeded|timed out/i.test(e.message)) return true;
  }
  return false;
}

/** The HTTP status an SDK error carries (`status`, or the Slack client's `statusCode`). */
function httpStatus(err: unknown): number | undefined {
  for (const e of causes(err)) {
    for (const value of [e.status, e.statusCode]) if (typeof value === 'number' && value >= 100 && value < 600) return value;
  }
  return undefined;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300);
}

const statusOf = (err: unknown): number | undefined => {
  const status = (err as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' ? status : undefined;
};

function slackCheck(slack: Config['slack']): Check {
  const client = (token: string) =>
    new WebClient(token, {
      slackApiUrl: slack.apiUrl,
      timeout: CHECK_TIMEOUT_MS,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      logLevel: LogLevel.ERROR,
    });
  return {
    name: 'slack',
    url: slack.apiUrl,
    async run() {
      const who = await client(slack.botToken!).auth.test();
      const found = [ok(`slack: auth.test accepts SLACK_BOT_TOKEN (bot @${who.user} in ${who.team ?? who.team_id})`)];
      if (slack.appToken) {
        // The app token only ever goes to apps.connections.open: its refusal is its own line, under the bot's OK.
        try {
          await client(slack.appToken).apps.connections.open();
          found.push(ok('slack: apps.connections.open accepts SLACK_APP_TOKEN (Socket Mode can connect)'));
        } catch (err) {
          const code = slackError(err);
          if (!code) throw err;
          found.push(
            fix(
              `slack: SLACK_APP_TOKEN was refused by apps.connections.open (${code}): set it to an app-level token (xapp-…) with the connections:write scope, from api.slack.com/apps → Basic Information → App-Level Tokens, and turn Socket Mode on`,
            ),
          );
        }
      }
      return found;
    },
    refused(err) {
      const code = slackError(err);
      if (!code) return undefined;
      if (['invalid_auth', 'not_authed', 'token_revoked', 'token_expired', 'account_inactive'].includes(code)) {
        return `SLACK_BOT_TOKEN was refused by auth.test (${code}): set it to the Bot User OAuth Token (xoxb-…) from api.slack.com/apps → OAuth & Permissions, reinstalling the app if it was revoked`;
      }
      return `auth.test answered ${code}: check SLACK_BOT_TOKEN (a bot token, xoxb-…) and SLACK_API_URL`;
    },
  };
}

/** The `error` of a Slack Web API answer with ok: false (invalid_auth, missing_scope …). */
const slackError = (err: unknown): string | undefined => (err as { data?: { error?: string } } | undefined)?.data?.error;

function telegramCheck(telegram: Config['telegram'], publicUrl: string | undefined): Check {
  const apiRoot = telegram.apiRoot.replace(/\/+$/, '');
  return {
    name: 'telegram',
    url: apiRoot,
    // grammY bounds the request itself (timeoutSeconds); the check's own timeout is the backstop.
    async run() {
      const api = new Api(telegram.botToken!, { apiRoot, timeoutSeconds: CHECK_TIMEOUT_MS / 1000 });
      const [me, hook] = await Promise.all([api.getMe(), api.getWebhookInfo()]);
      const found = [ok(`telegram: getMe accepts TELEGRAM_BOT_TOKEN (@${me.username})`)];
      const expected = publicUrl ? `${publicUrl}/telegram/webhook` : undefined;
      if (telegram.mode === 'polling') {
        if (hook.url) {
          found.push(
            warn(
              `telegram: a webhook is set (${hook.url}) although TELEGRAM_MODE=polling: the poller deletes it when it starts, so that server stops getting updates. If you meant webhooks, unset TELEGRAM_MODE`,
            ),
          );
        } else found.push(ok('telegram: no webhook is set, as polling needs'));
      } else if (!expected) {
        found.push(
          fix(
            'telegram: PUBLIC_URL is not set, so Telegram cannot be told where to post updates: set PUBLIC_URL (or TELEGRAM_MODE=polling without a public URL), then run `npx switchboard telegram set-webhook`',
          ),
        );
      } else if (hook.url !== expected) {
        found.push(
          fix(`telegram: the webhook Telegram has is ${hook.url ? `"${hook.url}"` : 'not set'}, not ${expected}: run \`npx switchboard telegram set-webhook\``),
        );
      } else {
        found.push(ok(`telegram: getWebhookInfo shows the webhook at ${expected}`));
        if (hook.last_error_message) {
          found.push(
            warn(
              `telegram: Telegram's last delivery failed: "${hook.last_error_message}" (${hook.pending_update_count} update(s) pending); see docs/telegram.md, troubleshooting`,
            ),
          );
        }
      }
      return found;
    },
    refused(err) {
      if (!(err instanceof GrammyError)) return undefined;
      if (err.error_code === 401 || err.error_code === 404) {
        return `TELEGRAM_BOT_TOKEN was refused by getMe (${err.error_code} ${err.description}): set it to the token @BotFather gave (/mybots → API Token)`;
      }
      return `${err.method} answered ${err.error_code} ${err.description}`;
    },
  };
}

function twilioCheck(whatsapp: Config['whatsapp']): Check {
  return {
    name: 'whatsapp',
    url: whatsapp.apiUrl,
    async run() {
      const client = twilio(whatsapp.accountSid, whatsapp.authToken, {
        httpClient: new RedirectingRequestClient(whatsapp.apiUrl, { timeoutMs: CHECK_TIMEOUT_MS }),
        autoRetry: false,
      });
      const account = await client.api.v2010.accounts(whatsapp.accountSid!).fetch();
      const found = [ok(`whatsapp: Twilio accepts TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (account "${account.friendlyName}", ${account.status})`)];
      if (account.status && account.status !== 'active')
        found.push(fix(`whatsapp: the Twilio account is ${account.status}: reactivate it in the Twilio console`));
      return found;
    },
    refused(err) {
      const status = statusOf(err);
      if (status === 401 || status === 403 || status === 404) {
        const code = (err as { code?: number }).code;
        return `Twilio refused TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN (${status}${code ? `, error ${code}` : ''}): set both from the Account Info box of console.twilio.com (the Auth Token of the same account, AC…)`;
      }
      return undefined;
    },
  };
}

function githubCheck(github: Config['github']): Check {
  const baseUrl = github.apiUrl.replace(/\/+$/, '');
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  return {
    name: 'github',
    url: baseUrl,
    async run(signal) {
      if (github.token) {
        const octokit = new Octokit({ baseUrl, auth: github.token, userAgent: 'switchboard', log: quiet, request: { signal } });
        const user = await octokit.request('GET /user');
        const scopes = user.headers['x-oauth-scopes'];
        const found = [ok(`github: GET /user accepts GITHUB_TOKEN (${user.data.login})`)];
        if (scopes === undefined)
          found.push(
            info('github: the token reports no scopes (fine-grained or installation token): it needs Pull requests and Issues read/write on the repositories'),
          );
        else {
          const list = scopes
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean);
          if (list.includes('repo') || list.includes('public_repo')) found.push(ok(`github: token scopes: ${list.join(', ')}`));
          else
            found.push(
              fix(
                `github: GITHUB_TOKEN has scopes "${list.join(', ')}" but commenting on pull requests needs repo (or public_repo): create a token with that scope`,
              ),
            );
        }
        return found;
      }
      const octokit = new Octokit({
        baseUrl,
        authStrategy: createAppAuth,
        auth: { appId: github.appId!, privateKey: github.privateKey! },
        userAgent: 'switchboard',
        log: quiet,
        request: { signal },
      });
      const app = await octokit.request('GET /app');
      const installations = await octokit.request('GET /app/installations', { per_page: 100 });
      const found = [ok(`github: GET /app accepts GITHUB_APP_ID ${github.appId} and GITHUB_PRIVATE_KEY (App "${app.data?.name ?? app.data?.slug}")`)];
      if (!installations.data.length)
        found.push(fix(`github: the App has no installations: install it on your repositories (https://github.com/apps/${app.data?.slug}/installations/new)`));
      else found.push(ok(`github: installed on ${installations.data.map((i) => (i.account && 'login' in i.account ? i.account.login : i.id)).join(', ')}`));
      return found;
    },
    refused(err) {
      const status = statusOf(err);
      if (github.token) {
        if (status === 401) return 'GET /user refused GITHUB_TOKEN (401 Bad credentials): create a new token (github.com/settings/tokens) and set GITHUB_TOKEN';
        if (status === 403)
          return `GET /user answered 403: the token cannot read its own user; use a personal access token for GITHUB_TOKEN, or an App (GITHUB_APP_ID + GITHUB_PRIVATE_KEY)`;
        return undefined;
      }
      if (status === 401 || status === 403 || status === 404) {
        return `GET /app refused the App's JWT (${status}): check GITHUB_APP_ID is the App ID (a number) and GITHUB_PRIVATE_KEY the .pem generated for that App`;
      }
      if (status === undefined && /key|pem|sign|asymmetric|decoder/i.test(firstLine(err))) {
        return 'GITHUB_PRIVATE_KEY cannot sign a JWT: paste the whole .pem (BEGIN/END lines included; \\n for newlines in one line)';
      }
      return undefined;
    },
  };
}

function llmRefused(setting: string, where: string) {
  return (err: unknown) => {
    const status = statusOf(err);
    if (status === 401 || status === 403) return `${setting} was refused (${status}): set a valid key from ${where}`;
    if (status !== undefined) return `models.list answered ${status}: ${firstLine(err)}`;
    return undefined;
  };
}

function anthropicCheck(anthropic: Config['llm']['anthropic']): Check {
  const baseURL = anthropic.baseUrl ?? 'https://api.anthropic.com';
  return {
    name: 'anthropic',
    url: baseURL,
    async run(signal) {
      const client = new Anthropic({ apiKey: anthropic.apiKey, authToken: null, baseURL, maxRetries: 0, timeout: CHECK_TIMEOUT_MS });
      await client.models.list({ limit: 1 }, { signal });
      return [ok('anthropic: models.list accepts ANTHROPIC_API_KEY')];
    },
    refused: llmRefused('ANTHROPIC_API_KEY', 'console.anthropic.com → API Keys'),
  };
}

function openaiCheck(openai: Config['llm']['openai']): Check {
  const baseURL = openai.baseUrl ?? 'https://api.openai.com/v1';
  return {
    name: 'openai',
    url: baseURL,
    async run(signal) {
      const client = new OpenAI({ apiKey: openai.apiKey, baseURL, maxRetries: 0, timeout: CHECK_TIMEOUT_MS });
      await client.models.list({ signal });
      return [ok('openai: models.list accepts OPENAI_API_KEY')];
    },
    refused: llmRefused('OPENAI_API_KEY', 'platform.openai.com → API keys'),
  };
}
