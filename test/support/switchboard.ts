/** Starts a real Switchboard in-process (no socket) on a fresh test database; tests call `app.request`. */
import { Webhook } from 'standardwebhooks';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { startSwitchboard, type StartOptions, type Switchboard } from '../../src/server.ts';
import { createTestDatabase, type TestDatabase } from './databases.ts';
import { RELAXED_ACCESS_ENV } from './process.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const HOOK_SECRET = `whsec_${Buffer.from('switchboard-test-secret-32-bytes!').toString('base64')}`;

export type TestSwitchboard = Switchboard & {
  database: TestDatabase;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
};

export { RELAXED_ACCESS_ENV };

export async function startTestSwitchboard(
  kind: 'pglite' | 'postgres',
  env: Record<string, string> = {},
  opts: StartOptions & { access?: 'relaxed' | 'strict' } = {},
): Promise<TestSwitchboard> {
  const { access = 'relaxed', ...startOptions } = opts;
  const database = await createTestDatabase(kind);
  const config = loadConfig({
    ADMIN_TOKEN,
    HOOK_SECRET_CI: HOOK_SECRET,
    RETRY_DELAY_SECONDS: '1',
    LOG_LEVEL: 'silent',
    ...(access === 'relaxed' ? RELAXED_ACCESS_ENV : {}),
    ...database.env,
    ...env,
  });
  const sb = await startSwitchboard(config, { listen: false, logger: createLogger('silent'), ...startOptions });
  if (access === 'relaxed') await sb.opened.store.setRequiredRole('status', 'member', 'test');
  return {
    ...sb,
    database,
    async api(method, path, body, headers = {}) {
      const res = await sb.app.request(path, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {}
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async close() {
      await sb.stop();
      await database.drop();
    },
  };
}

/** A Standard Webhooks request, signed with the library's own signer. */
export function signedHook(payload: unknown, opts: { id?: string; secret?: string; at?: Date; body?: string } = {}): RequestInit {
  const id = opts.id ?? `msg_${Math.random().toString(36).slice(2)}`;
  const at = opts.at ?? new Date();
  const body = opts.body ?? JSON.stringify(payload);
  return {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(opts.secret ?? HOOK_SECRET).sign(id, at, body),
    },
  };
}

/** Row counts of the pipeline's tables: "stores nothing" means none of them moved. */
export async function tableCounts(sb: Switchboard): Promise<Record<string, number>> {
  const { sql } = await import('drizzle-orm');
  const { rowsOf } = await import('../../db/rows.ts');
  const out: Record<string, number> = {};
  for (const table of ['deliveries', 'conversations', 'messages', 'executions', 'feedback']) {
    const rows = rowsOf<{ n: number }>(await sb.opened.handle.db.execute(sql.raw(`select count(*)::int as n from ${table}`)));
    out[table] = Number(rows[0]!.n);
  }
  return out;
}
