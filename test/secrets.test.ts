/**
 * The secret search: every secret set to a distinctive value, every platform and provider unreachable, a real
 * message through every channel, then the whole debug log of the real process and a dump of every table are
 * searched for each secret (as is, URL-encoded and base64). Nothing may be found.
 */
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventRequest } from './fakes/slack-api.ts';
import { messageUpdate, telegramRequest } from './fakes/telegram-api.ts';
import { inboundFields, whatsappRequest } from './fakes/twilio-api.ts';
import { delivery, issueCommentEvent, pullRequestEvent } from './fixtures/github/events.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from './support/databases.ts';
import { freePort, spawnCli, waitForOk, type Spawned } from './support/process.ts';
import { signedHook } from './support/switchboard.ts';
import { waitFor } from './support/wait.ts';

const PUBLIC_URL = 'https://switchboard.example.com';
const ACCOUNT_SID = `AC${'5ec7e7'.repeat(5)}aa`;
const PRIVATE_KEY = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();

/** Each value says what it is, so a leak is easy to trace; each is long enough to be unmistakable. */
const SECRETS: Record<string, string> = {
  ADMIN_TOKEN: 'admin-token-LEAKCHECK-a1b2c3d4e5',
  SLACK_SIGNING_SECRET: 'slacksign-LEAKCHECK-0f9e8d7c6b',
  SLACK_BOT_TOKEN: 'xoxb-1111-2222-LEAKCHECKslackbot',
  SLACK_APP_TOKEN: 'xapp-1-A0-LEAKCHECK-slackapp9',
  TELEGRAM_BOT_TOKEN: '7000000099:AAF-LEAKCHECK_telegram-bot-tok',
  TELEGRAM_WEBHOOK_SECRET: 'tgsecret-LEAKCHECK-7a6b5c4d',
  TWILIO_AUTH_TOKEN: 'twilioauth+LEAKCHECK/3e2d1c0b',
  GITHUB_WEBHOOK_SECRET: 'ghhook-LEAKCHECK-9c8b7a6f',
  GITHUB_TOKEN: 'ghp_LEAKCHECKgithubtoken0123456789ab',
  HOOK_SECRET_CI: `whsec_${Buffer.from('hook-secret-LEAKCHECK-32-bytes!!').toString('base64')}`,
  ANTHROPIC_API_KEY: 'sk-ant-LEAKCHECK-anthropic-key-0123',
  OPENAI_API_KEY: 'sk-LEAKCHECK-openai-key-0123456789',
};
const DB_PASSWORD = 'dbpass-LEAKCHECK-55aa';

/** Every form a secret can take on the way out. */
function forms(name: string, value: string): [string, string][] {
  const out = new Set([value, encodeURIComponent(value), Buffer.from(value).toString('base64')]);
  if (name === 'GITHUB_PRIVATE_KEY') {
    const body = value.split('\n').filter((l) => l && !l.startsWith('-----'));
    for (const line of body.slice(0, -1)) out.add(line); // the last line can be short enough to occur by chance
    out.add(body.join(''));
  }
  if (name === 'HOOK_SECRET_CI') out.add(value.slice('whsec_'.length));
  return [...out].map((f) => [name, f]);
}

async function dumpTables(db: TestDatabase, dataDir: string): Promise<string> {
  const listing = `select table_schema, table_name from information_schema.tables
    where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')`;
  const parts: string[] = [];
  if (db.name === 'pglite') {
    const pg = await PGlite.create(join(dataDir, 'pgdata'));
    try {
      const tables = (await pg.query<{ table_schema: string; table_name: string }>(listing)).rows;
      for (const t of tables)
        parts.push(`${t.table_schema}.${t.table_name} ${JSON.stringify((await pg.query(`select * from "${t.table_schema}"."${t.table_name}"`)).rows)}`);
    } finally {
      await pg.close();
    }
  } else {
    const sql = postgres(db.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    try {
      const tables = await sql.unsafe<{ table_schema: string; table_name: string }[]>(listing);
      for (const t of tables)
        parts.push(`${t.table_schema}.${t.table_name} ${JSON.stringify(await sql.unsafe(`select * from "${t.table_schema}"."${t.table_name}"`))}`);
    } finally {
      await sql.end();
    }
  }
  return parts.join('\n');
}

describe.each(databaseKinds)('the secret search on %s', (kind) => {
  let db: TestDatabase;
  let server: Spawned;
  let base: string;
  let secrets: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    const [port, dead] = [await freePort(), await freePort()]; // nothing listens on `dead`: every call is refused
    const deadUrl = `http://127.0.0.1:${dead}`;
    base = `http://127.0.0.1:${port}`;
    const databaseUrl = db.env.DATABASE_URL ? Object.assign(new URL(db.env.DATABASE_URL), { password: DB_PASSWORD }).toString() : undefined;
    secrets = { ...SECRETS, GITHUB_PRIVATE_KEY: PRIVATE_KEY, ...(databaseUrl ? { DATABASE_PASSWORD: DB_PASSWORD } : {}) };
    server = spawnCli(['start'], {
      ...db.env,
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
      ...SECRETS,
      PORT: String(port),
      LOG_LEVEL: 'debug',
      PUBLIC_URL,
      SLACK_API_URL: `${deadUrl}/api/`,
      TELEGRAM_API_ROOT: deadUrl,
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_WHATSAPP_FROM: 'whatsapp:+14155238886',
      TWILIO_API_URL: deadUrl,
      GITHUB_APP_ID: '12345',
      GITHUB_PRIVATE_KEY: PRIVATE_KEY,
      GITHUB_API_URL: deadUrl,
      ANTHROPIC_BASE_URL: deadUrl,
      OPENAI_BASE_URL: `${deadUrl}/v1`,
      LLM_MAX_RETRIES: '0',
      LLM_TIMEOUT_SECONDS: '5',
      MAX_ATTEMPTS: '2',
      RETRY_DELAY_SECONDS: '1',
    });
    await waitForOk(`${base}/readyz`);
  }, 90_000);

  afterAll(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    await db?.drop();
  });

  it('finds no secret in the debug log or in any table after every channel failed at the network', { timeout: 120_000 }, async () => {
    const post = (path: string, init: RequestInit) => fetch(`${base}${path}`, init);
    const sent = [
      await post(
        '/slack/events',
        eventRequest({ type: 'app_mention', user: 'U0ALICE01', text: '<@U0BOT0001> hello there', ts: '1700009000.000100', channel: 'C0LEAK' }, 'EvLEAK1', {
          secret: SECRETS.SLACK_SIGNING_SECRET,
        }),
      ),
      await post('/telegram/webhook', telegramRequest(messageUpdate('hello there'), { secret: SECRETS.TELEGRAM_WEBHOOK_SECRET })),
      await post(
        '/whatsapp/webhook',
        whatsappRequest(inboundFields('hello there', { AccountSid: ACCOUNT_SID }), {
          authToken: SECRETS.TWILIO_AUTH_TOKEN,
          url: `${PUBLIC_URL}/whatsapp/webhook`,
        }),
      ),
      await post('/github/webhook', await delivery(issueCommentEvent({ number: 8, body: '/ask hello there' }), { secret: SECRETS.GITHUB_WEBHOOK_SECRET })),
      await post(
        '/github/webhook',
        await delivery(pullRequestEvent('opened', { number: 9, base: 'b0', head: 'h0' }), { secret: SECRETS.GITHUB_WEBHOOK_SECRET }),
      ),
      await post('/hooks/ci', signedHook({ type: 'deploy.failed', agent: 'ask', text: 'hello there', user_id: 'ci' }, { secret: SECRETS.HOOK_SECRET_CI })),
      await post('/api/messages', {
        method: 'POST',
        headers: { authorization: `Bearer ${SECRETS.ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'hello there', user_id: 'web' }),
      }),
    ];
    expect(sent.map((r) => r.status).filter((s) => s >= 300)).toEqual([]);

    // Every execution ends: the ones that must reach a platform die after their last attempt.
    const finished = await waitFor(
      async () => {
        const res = await fetch(`${base}/api/executions?limit=100`, { headers: { authorization: `Bearer ${SECRETS.ADMIN_TOKEN}` } });
        return ((await res.json()) as { executions: { channel: string; status: string; error: string | null }[] }).executions;
      },
      (list) => list.length >= sent.length && list.every((e) => e.status === 'succeeded' || e.status === 'dead'),
      100_000,
    );
    const dead = new Set(finished.filter((e) => e.status === 'dead').map((e) => e.channel));
    expect([...dead].sort()).toEqual(['github', 'slack', 'telegram', 'whatsapp']);

    server.child.kill('SIGTERM');
    await server.exited;
    const log = server.output();
    const tables = await dumpTables(db, db.env.DATA_DIR!);
    // The search has something to search: failures were logged at debug level and stored.
    expect(log).toMatch(/ECONNREFUSED|fetch failed|Network request/i);
    expect(tables).toMatch(/"status":"dead"/);

    const leaks: string[] = [];
    for (const [name, value] of Object.entries(secrets)) {
      for (const [, form] of forms(name, value)) {
        if (log.includes(form)) leaks.push(`${name} in the log as ${JSON.stringify(form.slice(0, 12))}…`);
        if (tables.includes(form)) leaks.push(`${name} in a table as ${JSON.stringify(form.slice(0, 12))}…`);
      }
    }
    const basic = Buffer.from(`${ACCOUNT_SID}:${SECRETS.TWILIO_AUTH_TOKEN}`).toString('base64');
    if (log.includes(basic) || tables.includes(basic)) leaks.push('the Twilio Basic auth header');
    expect(leaks).toEqual([]);
  });
});
