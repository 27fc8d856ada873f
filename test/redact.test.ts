/** The redaction layer: every configured secret, in every form and place it can hide, and the two places it is wired. */
import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../db/rows.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { configuredSecrets, createRedactor } from '../src/redact.ts';
import { createAgents } from '../src/agents/index.ts';
import type { Agent } from '../src/ports.ts';
import { databaseKinds } from './support/databases.ts';
import { signedHook, startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';
import { waitFor } from './support/wait.ts';

const BOT_TOKEN = '7000000042:AAH-redact_me-0123456789abcdefgh';
const TWILIO = 'twilio+auth/token-0123456789';
const config = loadConfig({
  TELEGRAM_BOT_TOKEN: BOT_TOKEN,
  TWILIO_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
  TWILIO_AUTH_TOKEN: TWILIO,
  OPENAI_API_KEY: 'openai-key-without-a-known-prefix',
  DATABASE_URL: 'postgres://app:db-p%40ssword-123@db.internal:5432/sb',
  ADMIN_TOKEN: 'admin-token-0123456789abcdef',
});

describe('the redactor', () => {
  const redactor = createRedactor(configuredSecrets(config));

  it('replaces a secret in text, in a URL, URL-encoded and in base64, naming the setting', () => {
    expect(redactor.text(`POST https://api.telegram.org/bot${BOT_TOKEN}/sendMessage failed`)).toBe(
      'POST https://api.telegram.org/bot[redacted:TELEGRAM_BOT_TOKEN]/sendMessage failed',
    );
    expect(redactor.text(`?token=${encodeURIComponent(TWILIO)}`)).toBe('?token=[redacted:TWILIO_AUTH_TOKEN]');
    const basic = Buffer.from(`AC0123456789abcdef0123456789abcdef:${TWILIO}`).toString('base64');
    expect(redactor.text(`auth ${basic}`)).toBe('auth [redacted:TWILIO_BASIC_AUTH]');
    expect(redactor.text('connect to postgres://app:db-p%40ssword-123@db.internal failed')).not.toContain('ssword');
    expect(redactor.text('openai-key-without-a-known-prefix')).toBe('[redacted:OPENAI_API_KEY]');
  });

  it('walks nested objects, arrays, headers, errors, their stacks and cause chains', () => {
    const inner = new Error(`socket to /bot${BOT_TOKEN}/getMe closed`);
    const err = Object.assign(new TypeError('request failed', { cause: inner }), {
      config: { url: `https://api.telegram.org/bot${BOT_TOKEN}/sendMessage`, headers: { Authorization: 'Basic QUMwMTIzOnNlY3JldA==' } },
      retryAfterSeconds: 3,
    });
    const out = redactor.value({ err, list: [[{ deep: { deeper: TWILIO } }]], headers: new Headers({ 'x-api': TWILIO }) });
    const text = JSON.stringify(out, (_k, v: unknown) => (v instanceof Error ? { ...v, message: v.message, stack: v.stack, cause: v.cause } : v));
    expect(text).not.toContain(BOT_TOKEN);
    expect(text).not.toContain(TWILIO);
    expect(text).not.toContain('QUMwMTIzOnNlY3JldA==');
    expect(out.err).toBeInstanceOf(TypeError);
    expect((out.err.cause as Error).stack).toContain('[redacted:TELEGRAM_BOT_TOKEN]');
    expect((out.err as unknown as { retryAfterSeconds: number }).retryAfterSeconds).toBe(3);
    expect(err.config.url).toContain(BOT_TOKEN); // the original is left as it was
  });

  it('survives cycles and keeps a second net for secrets it was not told about', () => {
    const cyclic: Record<string, unknown> = { a: 'Bearer abcdefghijklmnop' };
    cyclic.self = cyclic;
    expect(JSON.stringify(createRedactor().value(cyclic).a)).toBe('"Bearer [redacted]"');
    const bare = createRedactor();
    expect(bare.text('https://api.telegram.org/bot123456789:AAEabcdefghijklmnopqrstuvwxyz/getMe')).toBe('https://api.telegram.org/bot[redacted]/getMe');
    expect(bare.text('token xoxb-123-456-abcdefabcdef and sk-proj-abcdefghijklmnopqrst')).not.toMatch(/xoxb-123|sk-proj/);
    expect(bare.text('postgres://u:hunter2hunter2@h/db')).toBe('postgres://u:[redacted]@h/db');
  });

  it('redacts each line of a PEM private key on its own', () => {
    const pem = [
      '-----BEGIN RSA PRIVATE KEY-----',
      'MIIEowIBAAKCAQEAx1y2z3abcdefghijklmnop',
      'qrstuvwxyz0123456789ABCDEFGHIJKLMNOPQR',
      '-----END RSA PRIVATE KEY-----',
    ].join('\n');
    const r = createRedactor({ GITHUB_PRIVATE_KEY: pem });
    expect(r.text('fragment: qrstuvwxyz0123456789ABCDEFGHIJKLMNOPQR')).toBe('fragment: [redacted:GITHUB_PRIVATE_KEY]');
  });
});

describe('the logger', () => {
  it('writes no secret at debug level, in the message, any field at any depth, or an error', () => {
    const lines: string[] = [];
    const destination = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const logger = createLogger('debug', { role: 'all' }, { redactor: createRedactor(configuredSecrets(config)), destination });
    const err = new Error(`GET https://api.telegram.org/bot${BOT_TOKEN}/getMe: ECONNREFUSED`, { cause: { headers: { authorization: `Basic ${TWILIO}` } } });
    logger.debug({ err, request: { nested: { deeper: [{ url: `/bot${BOT_TOKEN}/x` }] } } }, `calling with ${TWILIO}`);
    logger.child({ executionId: 'e1' }).error(err);
    const out = lines.join('');
    expect(lines).toHaveLength(2);
    expect(out).not.toContain(BOT_TOKEN);
    expect(out).not.toContain(TWILIO);
    expect(out).toContain('[redacted:TELEGRAM_BOT_TOKEN]');
    expect(out).toContain('ECONNREFUSED');
  });
});

describe('a failed database query', () => {
  it('is logged with its SQL and the database error, not the values it was writing', { timeout: 60_000 }, async () => {
    const { PGlite } = await import('@electric-sql/pglite');
    const { drizzle } = await import('drizzle-orm/pglite');
    const pglite = await PGlite.create();
    let failed: unknown;
    try {
      // A person's message as a query parameter, as ingest writes them, in a statement the database refuses.
      await drizzle(pglite).execute(sql`select ${'my card is 4111 1111 1111 1111'}::text as note, 1 / (select 0) as n`);
    } catch (err) {
      failed = err;
    } finally {
      await pglite.close();
    }
    expect(String((failed as Error).message)).toContain('my card is'); // drizzle repeats the values in its message
    const lines: string[] = [];
    const destination = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    createLogger('info', {}, { redactor: createRedactor(configuredSecrets(config)), destination }).error({ err: failed }, 'could not store');
    const out = lines.join('');
    expect(out).not.toContain('my card is');
    expect(out).toContain('Failed query: select $1::text as note, 1 / (select 0) as n (parameters not shown)');
    expect(out).toContain('division by zero'); // the database's own error, as its cause
    const copy = createRedactor({}).value(failed) as Error & { params?: unknown };
    expect(copy).toBeInstanceOf(Error);
    expect(copy.params).toBe('[not shown]');
    expect(copy.stack).not.toContain('my card is');
    // Another error that merely has `query` and `params` fields keeps its message.
    const other = Object.assign(new Error('boom'), { query: 'select 1', params: [] });
    expect((createRedactor({}).value(other) as Error).message).toBe('boom');
  });
});

describe.each(databaseKinds)('stored failures on %s', (kind) => {
  const SECRET = `whsec_${Buffer.from('a hook secret that leaks on fail').toString('base64')}`;
  const leaky: Agent = {
    name: 'leaky',
    description: 'fails quoting a secret',
    usesLlm: false,
    async run() {
      throw new Error(`upstream said no to ${SECRET} at https://x/bot${BOT_TOKEN}/y`, { cause: new Error(BOT_TOKEN) });
    },
  };
  let sb: TestSwitchboard;
  beforeAll(async () => {
    sb = await startTestSwitchboard(
      kind,
      { MAX_ATTEMPTS: '2', TELEGRAM_BOT_TOKEN: BOT_TOKEN, HOOK_SECRET_LEAK: SECRET },
      { agents: [...createAgents(), leaky] },
    );
  });
  afterAll(async () => sb?.close());

  it('keeps secrets out of executions.error and the queue job output, through the retry to dead', async () => {
    const res = await sb.app.request('/hooks/ci', signedHook({ agent: 'leaky', text: 'go' }));
    expect(res.status).toBeLessThan(300);
    const list = await waitFor(
      async () => (await sb.api('GET', '/api/executions?agent=leaky')).body.executions as { status: string; error: string }[],
      (l) => l[0]?.status === 'dead',
      30_000,
    );
    expect(list[0]!.error).toContain('[redacted:HOOK_SECRET_LEAK]');
    const rows = rowsOf<{ row: unknown }>(await sb.opened.handle.db.execute(sql`select to_jsonb(j) as row from pgboss.job j`));
    const dump = JSON.stringify(rows) + JSON.stringify(list);
    expect(dump).toContain('redacted');
    expect(dump).not.toContain(SECRET.slice(6));
    expect(dump).not.toContain(BOT_TOKEN);
  });
});
