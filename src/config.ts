/**
 * The only reader of process.env. Everything is validated once, here, and every problem is
 * reported together with what the operator should do about it.
 */
import { z } from 'zod';
import { DEFAULT_MODELS } from './llm/deprecations.ts';

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Switchboard cannot start; fix these settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const PROVIDERS = ['anthropic', 'openai', 'offline'] as const;

/** Who may talk to the agents, per channel whose senders are people; the first mode is the default. */
export const ACCESS_MODES = {
  slack: ['workspace', 'allowlist'],
  telegram: ['pairing', 'allowlist', 'open'],
  whatsapp: ['pairing', 'allowlist', 'open'],
  github: ['collaborators', 'anyone'],
} as const;
export type AccessChannel = keyof typeof ACCESS_MODES;
export type ChannelAccess = { mode: string; allow: string[]; admins: string[] };

/** How operators write an id in `<CHANNEL>_ALLOW` / `_ADMINS`, checked at start; `admins` is stricter where an admin is a person. */
const ACCESS_IDS: Record<AccessChannel, { allow: RegExp; admins: RegExp; hint: string; adminHint: string }> = {
  slack: {
    allow: /^[TCGDUWE][A-Z0-9]{2,}$/,
    admins: /^[UW][A-Z0-9]{2,}$/,
    hint: 'Slack team (T…), channel (C…, G…, D…) or user (U…, W…) ids',
    adminHint: 'Slack user ids (U… or W…: profile → ⋮ → Copy member ID)',
  },
  telegram: {
    allow: /^-?\d{1,20}$/,
    admins: /^\d{1,20}$/,
    hint: 'Telegram user or chat ids (numbers; a group id starts with -)',
    adminHint: 'Telegram user ids (numbers)',
  },
  whatsapp: {
    allow: /^\+[1-9]\d{5,14}$/,
    admins: /^\+[1-9]\d{5,14}$/,
    hint: 'WhatsApp numbers in E.164 format, e.g. +31612345678',
    adminHint: 'WhatsApp numbers in E.164 format, e.g. +31612345678',
  },
  github: {
    allow: /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\/(?:\*|[A-Za-z0-9._-]{1,100}))?|[A-Za-z0-9-]{1,39}\[bot\])$/,
    admins: /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/,
    hint: 'GitHub logins, owner/repo or owner/*',
    adminHint: 'GitHub logins',
  },
};

/** Splits a comma-separated id list; WhatsApp numbers may carry Twilio's `whatsapp:` prefix. */
function idList(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((id) => id.trim().replace(/^whatsapp:/i, ''))
    .filter(Boolean);
}

/** Whether `id` is written the way `<CHANNEL>_ALLOW` (or `_ADMINS`) expects; undefined when it is, else what to write. */
export function accessIdProblem(channel: AccessChannel, id: string, admin = false): string | undefined {
  const rule = ACCESS_IDS[channel];
  if ((admin ? rule.admins : rule.allow).test(id)) return undefined;
  return `"${id}" is not one of ${admin ? rule.adminHint : rule.hint}`;
}

const optionalString = z.string().trim().min(1).optional();
const url = (hint: string) => z.url({ message: `must be an absolute URL (${hint})` }).optional();
const int = (def: number, min: number, max: number) =>
  z.coerce.number({ message: 'must be a whole number' }).int('must be a whole number').min(min).max(max).default(def);
// Cost budgets in US dollars: 0 (the default) means no limit.
const usdBudget = z.coerce.number({ message: 'must be a number of US dollars; 0 means no limit' }).min(0, 'must be 0 (no limit) or more').default(0);
const PRICES_HINT =
  'must be JSON like {"claude-sonnet-4-6":{"input":3,"output":15}}: US dollars per million input/output tokens, keyed by model (or model prefix) or provider';
const prices = z
  .string()
  .transform((s, ctx) => {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: PRICES_HINT });
      return z.NEVER;
    }
  })
  .pipe(z.record(z.string().min(1), z.object({ input: z.number().min(0), output: z.number().min(0) }), { message: PRICES_HINT }));

const schema = z.object({
  PORT: int(3000, 0, 65535),
  HOST: z.string().min(1).default('127.0.0.1'),
  PUBLIC_URL: url('e.g. https://switchboard.example.com, the address platforms post to'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL, e.g. postgres://user:pass@127.0.0.1:5432/switchboard')
    .optional(),
  DATA_DIR: z.string().min(1).default('./.data'),
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters; generate one with `openssl rand -hex 32`').optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),

  SLACK_SIGNING_SECRET: optionalString,
  SLACK_BOT_TOKEN: optionalString,
  SLACK_APP_TOKEN: z
    .string()
    .trim()
    .regex(
      /^xapp-/,
      'must be an app-level token (xapp-…): api.slack.com/apps → your app → Basic Information → App-Level Tokens, with the connections:write scope',
    )
    .optional(),
  SLACK_API_URL: z.url().default('https://slack.com/api/'),
  TELEGRAM_MODE: z.enum(['webhook', 'polling']).default('webhook'),
  TELEGRAM_BOT_TOKEN: optionalString,
  TELEGRAM_WEBHOOK_SECRET: optionalString,
  TELEGRAM_API_ROOT: z.url().default('https://api.telegram.org'),
  TWILIO_ACCOUNT_SID: optionalString,
  TWILIO_AUTH_TOKEN: optionalString,
  TWILIO_WHATSAPP_FROM: optionalString,
  TWILIO_API_URL: z.url().default('https://api.twilio.com'),
  GITHUB_WEBHOOK_SECRET: optionalString,
  GITHUB_TOKEN: optionalString,
  GITHUB_APP_ID: optionalString,
  GITHUB_PRIVATE_KEY: optionalString,
  GITHUB_API_URL: z.url().default('https://api.github.com'),
  GITHUB_REVIEW_DRAFTS: z.enum(['true', 'false'], { message: 'must be true or false' }).default('false'),

  LLM_PROVIDERS: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(PROVIDERS, { message: `each provider must be one of ${PROVIDERS.join(', ')}` })).min(1))
    .optional(),
  ANTHROPIC_API_KEY: optionalString,
  ANTHROPIC_BASE_URL: url('the Anthropic API base URL'),
  ANTHROPIC_MODEL: z.string().default(DEFAULT_MODELS.anthropic),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: url('the OpenAI API base URL'),
  OPENAI_MODEL: z.string().default(DEFAULT_MODELS.openai),
  LLM_TIMEOUT_SECONDS: int(30, 1, 600),
  LLM_MAX_RETRIES: int(2, 0, 10),
  LLM_BREAKER_THRESHOLD: int(3, 1, 1000),
  LLM_BREAKER_COOLDOWN_SECONDS: int(30, 1, 86_400),
  LLM_DAILY_TOKEN_BUDGET_TENANT: int(0, 0, Number.MAX_SAFE_INTEGER),
  LLM_DAILY_TOKEN_BUDGET_USER: int(0, 0, Number.MAX_SAFE_INTEGER),
  LLM_DAILY_COST_BUDGET_TENANT_USD: usdBudget,
  LLM_DAILY_COST_BUDGET_USER_USD: usdBudget,
  LLM_PRICES: prices.optional(),

  WORKER_CONCURRENCY: int(32, 1, 256),
  MAX_ATTEMPTS: int(3, 1, 20),
  RETRY_DELAY_SECONDS: int(2, 1, 3600),
  JOB_TIMEOUT_SECONDS: int(120, 5, 3600),
  RATE_LIMIT_PER_MINUTE: int(60, 1, 100000),
  RATE_LIMIT_BURST: int(20, 1, 100000),
  REPLY_WAIT_SECONDS: int(30, 1, 300),
  DB_POOL_SIZE: int(10, 1, 200),
  DB_CONNECT_TIMEOUT_SECONDS: int(3, 1, 120),
  DB_STATEMENT_TIMEOUT_SECONDS: int(15, 0, 3600),
  DB_ACQUIRE_TIMEOUT_MS: int(3000, 50, 120_000),
  QUEUE_DEPTH_LIMIT: int(5000, 1, 10_000_000),
  DELIVERY_RETENTION_DAYS: int(30, 1, 3650),

  SLACK_ACCESS: z.enum(ACCESS_MODES.slack, { message: `must be ${ACCESS_MODES.slack.join(' or ')}` }).default('workspace'),
  TELEGRAM_ACCESS: z.enum(ACCESS_MODES.telegram, { message: `must be ${ACCESS_MODES.telegram.join(', ')}` }).default('pairing'),
  WHATSAPP_ACCESS: z.enum(ACCESS_MODES.whatsapp, { message: `must be ${ACCESS_MODES.whatsapp.join(', ')}` }).default('pairing'),
  GITHUB_ACCESS: z.enum(ACCESS_MODES.github, { message: `must be ${ACCESS_MODES.github.join(' or ')}` }).default('collaborators'),
  QUOTA_PER_HOUR: int(60, 0, 1_000_000),
});

type Raw = z.infer<typeof schema>;

export type ChannelStatus = { enabled: boolean; requiredEnv: string[] };

export type Config = {
  port: number;
  host: string;
  publicUrl?: string;
  databaseUrl?: string;
  dataDir: string;
  adminToken?: string;
  logLevel: Raw['LOG_LEVEL'];
  slack: { signingSecret?: string; botToken?: string; appToken?: string; apiUrl: string } & ChannelStatus;
  telegram: { mode: 'webhook' | 'polling'; botToken?: string; webhookSecret?: string; apiRoot: string } & ChannelStatus;
  whatsapp: { accountSid?: string; authToken?: string; from?: string; apiUrl: string } & ChannelStatus;
  github: { webhookSecret?: string; token?: string; appId?: string; privateKey?: string; apiUrl: string; reviewDrafts: boolean } & ChannelStatus;
  /** Standard Webhooks secrets by env name (`HOOK_SECRET_<SOURCE>`, see hookSecretEnvName). */
  hookSecrets: Record<string, string>;
  llm: {
    providers: (typeof PROVIDERS)[number][];
    anthropic: { apiKey?: string; baseUrl?: string; model: string };
    openai: { apiKey?: string; baseUrl?: string; model: string };
    /** Per provider call: one attempt's timeout, retries after it, and when the circuit breaker opens and probes. */
    timeoutSeconds: number;
    maxRetries: number;
    breaker: { threshold: number; cooldownSeconds: number };
    /** Daily limits per tenant and per user (UTC day); 0 means none. */
    budgets: { tenantTokens: number; userTokens: number; tenantCostUsd: number; userCostUsd: number };
    /** Price overrides from LLM_PRICES (USD per million tokens), merged over the built-in table. */
    prices: Record<string, { inputPerMTok: number; outputPerMTok: number }>;
  };
  worker: { concurrency: number; maxAttempts: number; retryDelaySeconds: number; jobTimeoutSeconds: number };
  rateLimit: { perMinute: number; burst: number };
  replyWaitSeconds: number;
  dbPoolSize: number;
  /**
   * When the database is slow or gone: opening a connection may take `connectTimeoutSeconds`, a statement
   * `statementTimeoutSeconds` (0: no limit), and a request waits `acquireTimeoutMs` for a connection before it gets 503.
   */
  db: { connectTimeoutSeconds: number; statementTimeoutSeconds: number; acquireTimeoutMs: number };
  /** Above this many waiting executions the hub reports degraded and sheds generic webhooks. */
  queueDepthLimit: number;
  /** Dedup rows older than this are deleted nightly. */
  deliveryRetentionDays: number;
  /** Who may talk to the agents on each channel whose senders are people (web and signed hooks are trusted systems). */
  access: Record<AccessChannel, ChannelAccess>;
  /** Executions one person may start per hour on any channel; 0 means no limit. */
  quotaPerHour: number;
};

/** `HOOK_SECRET_MY_SOURCE` ↔ source `my-source` / `my_source` (both map to the same variable). */
/**
 * The one name of a hook source. `/hooks/My_App`, `/hooks/my-app` and `/hooks/MY-APP` share one secret
 * (hookSecretEnvName folds them together), so they are one source: one dedup namespace, one tenant, one set of
 * routing rules. Lower case with `-`, the spelling a URL usually has.
 */
export function canonicalHookSource(source: string): string {
  return source.toLowerCase().replaceAll('_', '-');
}

export function hookSecretEnvName(source: string): string {
  return `HOOK_SECRET_${source.toUpperCase().replaceAll('-', '_')}`;
}

function channel(required: [string, string | undefined][]): ChannelStatus {
  return { enabled: required.every(([, v]) => Boolean(v)), requiredEnv: required.map(([k]) => k) };
}

/** Reads and validates the environment. Throws one ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable means "unset": shells and .env files often leave VAR= behind.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(present);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.') || 'environment'}: ${issue.message}`);
  }
  const hookSecrets: Record<string, string> = {};
  for (const [key, value] of Object.entries(present)) {
    if (!key.startsWith('HOOK_SECRET_') || !value) continue;
    if (!/^whsec_[A-Za-z0-9+/=]+$/.test(value)) {
      problems.push(`${key}: must be a Standard Webhooks secret like whsec_<base64>; generate one with \`echo whsec_$(openssl rand -base64 32)\``);
      continue;
    }
    hookSecrets[key] = value;
  }
  // Settings that only make sense together are checked on the raw values, so one run reports every problem.
  const has = (key: string) => present[key] !== undefined;
  if (has('GITHUB_APP_ID') && !has('GITHUB_PRIVATE_KEY')) problems.push('GITHUB_PRIVATE_KEY: is required with GITHUB_APP_ID; paste the App private key (PEM)');
  if (has('GITHUB_PRIVATE_KEY') && !has('GITHUB_APP_ID'))
    problems.push('GITHUB_APP_ID: is required with GITHUB_PRIVATE_KEY; it is on the GitHub App settings page');
  const listed = present.LLM_PROVIDERS?.split(',').map((p) => p.trim().toLowerCase()) ?? [];
  if (listed.includes('anthropic') && !has('ANTHROPIC_API_KEY'))
    problems.push('ANTHROPIC_API_KEY: LLM_PROVIDERS lists anthropic but no key is set; set the key or remove anthropic from LLM_PROVIDERS');
  if (listed.includes('openai') && !has('OPENAI_API_KEY'))
    problems.push('OPENAI_API_KEY: LLM_PROVIDERS lists openai but no key is set; set the key or remove openai from LLM_PROVIDERS');
  const access = {} as Record<AccessChannel, ChannelAccess>;
  for (const channel of Object.keys(ACCESS_MODES) as AccessChannel[]) {
    const prefix = channel.toUpperCase();
    const allow = idList(present[`${prefix}_ALLOW`]);
    const admins = idList(present[`${prefix}_ADMINS`]);
    for (const id of allow) {
      const problem = accessIdProblem(channel, id);
      if (problem) problems.push(`${prefix}_ALLOW: ${problem}; separate ids with commas`);
    }
    for (const id of admins) {
      const problem = accessIdProblem(channel, id, true);
      if (problem) problems.push(`${prefix}_ADMINS: ${problem}; separate ids with commas`);
    }
    access[channel] = { mode: String(present[`${prefix}_ACCESS`] ?? ACCESS_MODES[channel][0]), allow, admins };
  }
  if (!parsed.success || problems.length) throw new ConfigError(problems);
  const e = parsed.data;
  const configured = (['anthropic', 'openai'] as const).filter((p) => (p === 'anthropic' ? e.ANTHROPIC_API_KEY : e.OPENAI_API_KEY));
  const providers = e.LLM_PROVIDERS ?? [...configured, 'offline'];

  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    adminToken: e.ADMIN_TOKEN,
    logLevel: e.LOG_LEVEL,
    slack: {
      signingSecret: e.SLACK_SIGNING_SECRET,
      botToken: e.SLACK_BOT_TOKEN,
      appToken: e.SLACK_APP_TOKEN,
      apiUrl: e.SLACK_API_URL,
      // Socket Mode: events come over a connection opened with the app token, so no request is signed.
      ...channel(
        e.SLACK_APP_TOKEN
          ? [
              ['SLACK_BOT_TOKEN', e.SLACK_BOT_TOKEN],
              ['SLACK_APP_TOKEN', e.SLACK_APP_TOKEN],
            ]
          : [
              ['SLACK_SIGNING_SECRET', e.SLACK_SIGNING_SECRET],
              ['SLACK_BOT_TOKEN', e.SLACK_BOT_TOKEN],
            ],
      ),
    },
    telegram: {
      mode: e.TELEGRAM_MODE,
      botToken: e.TELEGRAM_BOT_TOKEN,
      webhookSecret: e.TELEGRAM_WEBHOOK_SECRET,
      apiRoot: e.TELEGRAM_API_ROOT,
      // Polling asks Telegram with the token (getUpdates); only a webhook needs the secret Telegram echoes back.
      ...channel(
        e.TELEGRAM_MODE === 'polling'
          ? [['TELEGRAM_BOT_TOKEN', e.TELEGRAM_BOT_TOKEN]]
          : [
              ['TELEGRAM_BOT_TOKEN', e.TELEGRAM_BOT_TOKEN],
              ['TELEGRAM_WEBHOOK_SECRET', e.TELEGRAM_WEBHOOK_SECRET],
            ],
      ),
    },
    whatsapp: {
      accountSid: e.TWILIO_ACCOUNT_SID,
      authToken: e.TWILIO_AUTH_TOKEN,
      from: e.TWILIO_WHATSAPP_FROM,
      apiUrl: e.TWILIO_API_URL,
      ...channel([
        ['TWILIO_ACCOUNT_SID', e.TWILIO_ACCOUNT_SID],
        ['TWILIO_AUTH_TOKEN', e.TWILIO_AUTH_TOKEN],
        ['TWILIO_WHATSAPP_FROM', e.TWILIO_WHATSAPP_FROM],
        ['PUBLIC_URL', e.PUBLIC_URL],
      ]),
    },
    github: {
      webhookSecret: e.GITHUB_WEBHOOK_SECRET,
      token: e.GITHUB_TOKEN,
      appId: e.GITHUB_APP_ID,
      privateKey: e.GITHUB_PRIVATE_KEY?.replaceAll('\\n', '\n'),
      apiUrl: e.GITHUB_API_URL,
      reviewDrafts: e.GITHUB_REVIEW_DRAFTS === 'true',
      ...channel([
        ['GITHUB_WEBHOOK_SECRET', e.GITHUB_WEBHOOK_SECRET],
        ['GITHUB_TOKEN or GITHUB_APP_ID + GITHUB_PRIVATE_KEY', e.GITHUB_TOKEN ?? e.GITHUB_APP_ID],
      ]),
    },
    hookSecrets,
    llm: {
      providers,
      anthropic: { apiKey: e.ANTHROPIC_API_KEY, baseUrl: e.ANTHROPIC_BASE_URL, model: e.ANTHROPIC_MODEL },
      openai: { apiKey: e.OPENAI_API_KEY, baseUrl: e.OPENAI_BASE_URL, model: e.OPENAI_MODEL },
      timeoutSeconds: e.LLM_TIMEOUT_SECONDS,
      maxRetries: e.LLM_MAX_RETRIES,
      breaker: { threshold: e.LLM_BREAKER_THRESHOLD, cooldownSeconds: e.LLM_BREAKER_COOLDOWN_SECONDS },
      budgets: {
        tenantTokens: e.LLM_DAILY_TOKEN_BUDGET_TENANT,
        userTokens: e.LLM_DAILY_TOKEN_BUDGET_USER,
        tenantCostUsd: e.LLM_DAILY_COST_BUDGET_TENANT_USD,
        userCostUsd: e.LLM_DAILY_COST_BUDGET_USER_USD,
      },
      prices: Object.fromEntries(Object.entries(e.LLM_PRICES ?? {}).map(([k, p]) => [k, { inputPerMTok: p.input, outputPerMTok: p.output }])),
    },
    worker: {
      concurrency: e.WORKER_CONCURRENCY,
      maxAttempts: e.MAX_ATTEMPTS,
      retryDelaySeconds: e.RETRY_DELAY_SECONDS,
      jobTimeoutSeconds: e.JOB_TIMEOUT_SECONDS,
    },
    rateLimit: { perMinute: e.RATE_LIMIT_PER_MINUTE, burst: e.RATE_LIMIT_BURST },
    replyWaitSeconds: e.REPLY_WAIT_SECONDS,
    dbPoolSize: e.DB_POOL_SIZE,
    db: {
      connectTimeoutSeconds: e.DB_CONNECT_TIMEOUT_SECONDS,
      statementTimeoutSeconds: e.DB_STATEMENT_TIMEOUT_SECONDS,
      acquireTimeoutMs: e.DB_ACQUIRE_TIMEOUT_MS,
    },
    queueDepthLimit: e.QUEUE_DEPTH_LIMIT,
    deliveryRetentionDays: e.DELIVERY_RETENTION_DAYS,
    access,
    quotaPerHour: e.QUOTA_PER_HOUR,
  };
}
