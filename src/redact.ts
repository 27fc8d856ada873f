/**
 * One redaction layer for everything Switchboard writes down: log lines and stored execution errors.
 * Every configured secret value is replaced wherever it appears (message, stack, URL, header, nested
 * object, Error cause) by `[redacted:<NAME>]`; generic patterns (bearer/basic credentials, Telegram bot
 * URLs, Slack and API key shapes, passwords in URLs) are a second net for secrets it was not told about.
 */
import type { Config } from './config.ts';

export type Redactor = {
  /** The text with every known secret and secret-shaped string replaced. */
  text(s: string): string;
  /** A redacted copy of any value: strings, arrays, plain objects and Errors (with `cause`), at any depth. */
  value<T>(v: T): T;
  /** Adds a secret learned after start (the generated admin token). */
  add(name: string, value: string | undefined): void;
};

/** Shorter values are not treated as secrets: replacing them would mangle ordinary text. */
const MIN_SECRET_LENGTH = 8;
const MAX_DEPTH = 10;
/** Keys whose string values are credentials whatever they contain. */
const SECRET_KEY =
  /^(authorization|proxy-authorization|x-twilio-signature|x-hub-signature(-256)?|x-slack-signature|x-telegram-bot-api-secret-token|webhook-signature|cookie|set-cookie|password|passwd|secret|token|api[-_]?key|access[-_]?token|auth[-_]?token|private[-_]?key|client[-_]?secret)$/i;

// The second net: shapes of credentials, whatever their value.
const GENERIC: [RegExp, string][] = [
  [/\b(Basic|Bearer)\s+[A-Za-z0-9._~+/=-]{8,}/g, '$1 [redacted]'],
  [/\bbot\d{5,}:[A-Za-z0-9_-]{20,}/g, 'bot[redacted]'],
  [/\bxox[abpre]-[A-Za-z0-9-]{8,}/g, '[redacted:slack-token]'],
  [/\bxapp-[A-Za-z0-9-]{8,}/g, '[redacted:slack-token]'],
  [/\bsk-[A-Za-z0-9_-]{16,}/g, '[redacted:api-key]'],
  [/\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})/g, '[redacted:github-token]'],
  [/\bwhsec_[A-Za-z0-9+/=]{16,}/g, '[redacted:webhook-secret]'],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, '[redacted:private-key]'],
  // user:password@ in any URL (DATABASE_URL, proxies)
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s@/]+@/gi, '$1:[redacted]@'],
];

/** Every secret value in the configuration, by the name of the setting it came from. */
export function configuredSecrets(config: Config): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {
    SLACK_SIGNING_SECRET: config.slack.signingSecret,
    SLACK_BOT_TOKEN: config.slack.botToken,
    SLACK_APP_TOKEN: config.slack.appToken,
    TELEGRAM_BOT_TOKEN: config.telegram.botToken,
    TELEGRAM_WEBHOOK_SECRET: config.telegram.webhookSecret,
    TWILIO_AUTH_TOKEN: config.whatsapp.authToken,
    GITHUB_WEBHOOK_SECRET: config.github.webhookSecret,
    GITHUB_TOKEN: config.github.token,
    GITHUB_PRIVATE_KEY: config.github.privateKey,
    ANTHROPIC_API_KEY: config.llm.anthropic.apiKey,
    OPENAI_API_KEY: config.llm.openai.apiKey,
    ADMIN_TOKEN: config.adminToken,
    ...config.hookSecrets,
  };
  if (config.databaseUrl) {
    try {
      const password = new URL(config.databaseUrl).password;
      if (password) out.DATABASE_URL = decodeURIComponent(password);
    } catch {}
  }
  if (config.whatsapp.accountSid && config.whatsapp.authToken) {
    // What Twilio's SDK sends as `Authorization: Basic …`.
    out.TWILIO_BASIC_AUTH = Buffer.from(`${config.whatsapp.accountSid}:${config.whatsapp.authToken}`).toString('base64');
  }
  return out;
}

/** The forms a secret takes on the way out: as is, URL-encoded, base64, and a PEM key's body lines. */
function formsOf(value: string): string[] {
  const forms = new Set([value, encodeURIComponent(value), Buffer.from(value).toString('base64'), JSON.stringify(value).slice(1, -1)]);
  if (value.includes('-----BEGIN')) {
    const body = value.split(/\r?\n/).filter((line) => line && !line.startsWith('-----'));
    for (const line of body) forms.add(line.trim());
    forms.add(body.join(''));
  }
  // a standard-webhooks secret is used decoded, so its base64 body is what leaks
  if (value.startsWith('whsec_')) forms.add(value.slice('whsec_'.length));
  return [...forms].filter((f) => f.length >= MIN_SECRET_LENGTH);
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The SQL of drizzle-orm's failed-query error (`Failed query: <sql>\nparams: <values>`), or undefined for another error. */
function failedQuery(err: Error): string | undefined {
  const { query, params } = err as { query?: unknown; params?: unknown };
  return typeof query === 'string' && Array.isArray(params) && err.message.startsWith(`Failed query: ${query}`) ? query : undefined;
}

/** Builds the redactor once: all secret forms compiled into one alternation, longest first. */
export function createRedactor(secrets: Record<string, string | undefined> = {}): Redactor {
  const names = new Map<string, string>();
  let pattern: RegExp | undefined;
  const compile = () => {
    const forms = [...names.keys()].sort((a, b) => b.length - a.length);
    pattern = forms.length ? new RegExp(forms.map(escapeRegExp).join('|'), 'g') : undefined;
  };
  const add = (name: string, value: string | undefined) => {
    if (!value) return;
    for (const form of formsOf(value)) if (!names.has(form)) names.set(form, name);
    compile();
  };
  for (const [name, value] of Object.entries(secrets)) add(name, value);

  function text(s: string): string {
    let out = pattern ? s.replace(pattern, (m) => `[redacted:${names.get(m)}]`) : s;
    for (const [re, replacement] of GENERIC) out = out.replace(re, replacement);
    return out;
  }

  function walk(v: unknown, depth: number, seen: WeakMap<object, unknown>): unknown {
    if (typeof v === 'string') return text(v);
    if (v === null || typeof v !== 'object') return v;
    if (seen.has(v)) return seen.get(v);
    if (depth > MAX_DEPTH) return '[redacted:too deep]';
    if (v instanceof Error) return redactError(v, depth, seen);
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      seen.set(v, out);
      for (const item of v) out.push(walk(item, depth + 1, seen));
      return out;
    }
    if (v instanceof Date || ArrayBuffer.isView(v)) return v;
    if (typeof (v as { entries?: unknown }).entries === 'function' && (v instanceof Map || (typeof Headers !== 'undefined' && v instanceof Headers))) {
      return walk(Object.fromEntries((v as Map<unknown, unknown>).entries()), depth, seen);
    }
    const out: Record<string, unknown> = {};
    seen.set(v, out);
    for (const [key, item] of Object.entries(v))
      out[key] = SECRET_KEY.test(key) && typeof item === 'string' && item ? '[redacted]' : walk(item, depth + 1, seen);
    return out;
  }

  /**
   * A copy of the error of the same class (so loggers still see an Error), with every string field redacted. A
   * failed database query keeps its SQL but not its parameters: they are the rows being written (people's messages,
   * whole envelopes), which the ORM's error repeats in its message, its stack and a field of its own.
   */
  function redactError(err: Error, depth: number, seen: WeakMap<object, unknown>): Error {
    const copy = Object.create(Object.getPrototypeOf(err) as object) as Error & Record<string, unknown>;
    seen.set(err, copy);
    const define = (key: string, value: unknown) =>
      Object.defineProperty(copy, key, { value, enumerable: key !== 'message' && key !== 'stack', writable: true, configurable: true });
    const query = failedQuery(err);
    const message = query === undefined ? err.message : `Failed query: ${query} (parameters not shown)`;
    define('message', text(message));
    const stack = query === undefined || err.stack === undefined ? err.stack : err.stack.replace(err.message, message);
    define('stack', stack === undefined ? undefined : text(stack));
    if (err.name !== copy.name) define('name', err.name);
    for (const [key, item] of Object.entries(err)) {
      if (query !== undefined && key === 'params') define(key, '[not shown]');
      else define(key, SECRET_KEY.test(key) && typeof item === 'string' ? '[redacted]' : walk(item, depth + 1, seen));
    }
    if ('cause' in err) define('cause', walk(err.cause, depth + 1, seen));
    return copy;
  }

  return { text, value: <T>(v: T) => walk(v, 0, new WeakMap()) as T, add };
}
