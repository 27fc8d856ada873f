/** `npx switchboard <verb>`: every verb goes through the same pipeline and API the server uses. */
import { parseArgs } from 'node:util';
import { ACCESS_USAGE, accessCommand, AccessUsageError } from './access/index.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { DataDirInUseError, DataDirUnsafeError } from '../db/index.ts';
import { createLogger } from './logger.ts';
import { configuredSecrets, createRedactor } from './redact.ts';
import { findingsText } from './review/index.ts';
import { CONSOLE_OUTPUT, type Output } from './output.ts';
import { startSwitchboard, type Role, type Switchboard } from './server.ts';

const USAGE = `Usage: switchboard <verb> [options]

  start [--role web|worker|all]     serve HTTP and/or run workers (default: all)
  migrate                           apply database migrations and exit
  simulate <channel> "<text>"       run one message through the pipeline and print the reply
                                    channels: web, hooks/<source> (needs HOOK_SECRET_<SOURCE>; the text may be a JSON event)
  replay <execution-id>             re-run an execution as a new one and print its reply
  agents list|enable|disable <name> list agents or switch one on or off
  executions [--status S] [--agent A] [--channel C] [--limit N] [--json]
  routes [list]                     webhook-to-chat routing rules
  routes add <source> <agent> <channel>:<target> [--event TYPE]
                                    e.g. routes add ci summarize slack:C0123 --event 'build.*'
  routes delete <id>
  usage [--days N] [--group day,agent,provider,tenant,model,channel] [--json]
                                    tokens and cost of model calls (default: last 7 days)
  doctor                            check configuration, database, and each enabled channel and LLM provider
                                    against its real API; say what to fix (exit 1 when something is broken)
  slack manifest [--socket]         print the Slack app manifest for PUBLIC_URL (paste it at api.slack.com/apps);
                                    --socket: for Socket Mode (SLACK_APP_TOKEN), no Request URLs, no PUBLIC_URL needed
  github manifest                   print the GitHub App manifest for PUBLIC_URL (see docs/github.md)
  telegram set-webhook              point the bot's webhook at PUBLIC_URL/telegram/webhook with TELEGRAM_WEBHOOK_SECRET
  telegram info                     show the webhook Telegram has: url, pending updates, last error
  ${ACCESS_USAGE}
  admin-token rotate                print a new admin token for /api; the old one stops working everywhere
`;

class UsageError extends Error {}

function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const ROLES = ['web', 'worker', 'all'] as const;

/** In-process server for one command: workers too when embedded, since nothing else can run them. */
async function withSwitchboard<T>(config: Config, role: Role, io: Output, fn: (sb: Switchboard) => Promise<T>): Promise<T> {
  const redactor = createRedactor(configuredSecrets(config));
  const sb = await startSwitchboard(config, { role, listen: false, redactor, logger: createLogger(quietLevel(config), {}, { redactor }) });
  // stderr, so the verb's own output stays what scripts parse
  if (sb.createdAdminToken) io.err(adminTokenNotice(sb.createdAdminToken));
  try {
    return await fn(sb);
  } finally {
    await sb.stop();
  }
}

/** The one time a generated admin token is shown: only its hash is kept. */
function adminTokenNotice(token: string): string {
  return [
    `Admin token for /api (shown only this once; only its hash is stored): ${token}`,
    '  Send it as "Authorization: Bearer <token>". Lost it? Run `npx switchboard admin-token rotate`. Set ADMIN_TOKEN to choose your own.',
  ].join('\n');
}

function quietLevel(config: Config) {
  return ['debug', 'trace'].includes(config.logLevel) ? config.logLevel : 'error';
}

async function call(sb: Switchboard, method: string, path: string, body?: unknown) {
  const res = await sb.app.request(path, {
    method,
    headers: { authorization: `Bearer ${sb.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (res.status === 204 ? {} : await res.json()) as Record<string, any>;
  if (res.status >= 400) throw new Error(`${json.error?.code ?? res.status}: ${json.error?.message ?? 'request failed'}`);
  return { status: res.status, json };
}

function printReply(json: Record<string, any>, config: Config, io: Output): number {
  if (json.reply) {
    io.out(json.reply.text);
    const findings = findingsText(json.reply.findings);
    if (findings) io.out(`\n${findings}`);
    return json.status === 'dead' ? 1 : 0;
  }
  io.err(
    `No reply yet: execution ${json.execution_id} is ${json.status}${json.error ? ` (${json.error})` : ''}.` +
      (config.databaseUrl ? ' It stays queued: a worker (switchboard start --role worker) finishes it.' : ''),
  );
  return 1;
}

/**
 * The answer to executions this command created: on a server (role `web`) this process runs them itself, since
 * no worker may be running; embedded (`all`), its own worker already has them.
 */
async function answerOf(sb: Switchboard, config: Config, role: Role, ids: string[]): Promise<Record<string, any>> {
  if (role === 'web') for (const id of ids) await sb.runNow(id);
  await sb.waiter.wait(ids[0]!, config.replyWaitSeconds * 1000);
  const { json } = await call(sb, 'GET', `/api/executions/${ids[0]}`);
  return { ...json, execution_id: ids[0] };
}

const verbs: Record<string, (config: Config, args: string[], io: Output) => Promise<number>> = {
  async start(config, args, io) {
    const { values } = parseArgs({ args, options: { role: { type: 'string', default: 'all' } } });
    if (!ROLES.includes(values.role as Role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
    const redactor = createRedactor(configuredSecrets(config));
    const logger = createLogger(config.logLevel, { role: values.role }, { redactor });
    const sb = await startSwitchboard(config, { role: values.role as Role, logger, redactor });
    // Printed, not logged: the log redacts it like every other secret, and log lines are kept and shipped.
    if (sb.createdAdminToken) io.out(adminTokenNotice(sb.createdAdminToken));
    logger.info({ url: sb.url, database: sb.opened.store.kind }, `Switchboard is running${sb.url ? ` on ${sb.url}` : ''}`);
    await new Promise<void>((resolve) => {
      const shutdown = (signal: string) => {
        logger.info({ signal }, 'shutting down: finishing in-flight work');
        // A bounded exit: a stuck job must not keep a deploy waiting forever.
        setTimeout(() => {
          logger.error('shutdown took over 20 s; exiting now');
          process.exit(1);
        }, 20_000).unref();
        sb.stop().then(resolve, (err) => {
          logger.error({ err }, 'error while shutting down');
          resolve();
        });
      };
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
    });
    return 0;
  },

  async migrate(config, _args, io) {
    return withSwitchboard(config, 'web', io, async (sb) => {
      const ready = await sb.opened.store.ready();
      if (ready.migrations) {
        io.out(`migrations applied (${sb.opened.store.kind}): up to date`);
        return 0;
      }
      io.err(
        `migrations are INCOMPLETE (${sb.opened.store.kind})${ready.error ? `: ${ready.error}` : ''}; check the database user may create tables, then run \`switchboard migrate\` again`,
      );
      return 1;
    });
  },

  async simulate(config, args, io) {
    const [channel, ...words] = args;
    const text = words.join(' ');
    if (!channel || !text) throw new UsageError('simulate needs a channel and a text: switchboard simulate web "help"');
    const role: Role = config.databaseUrl ? 'web' : 'all';
    return withSwitchboard(config, role, io, async (sb) => {
      if (channel === 'web') {
        const { json } = await call(sb, 'POST', '/api/messages', { text, user_id: 'cli', conversation_id: 'cli' });
        return printReply(await answerOf(sb, config, role, [json.execution_id]), config, io);
      }
      const source = /^hooks\/(.+)$/.exec(channel)?.[1];
      if (!source) throw new UsageError(`simulate supports the channels web and hooks/<source>, not ${channel}`);
      const { signedHook } = await import('./simulate.ts');
      // A JSON object is sent as the event itself (`{"type":"deploy.failed","agent":"summarize",…}`); other text is its `text`.
      const request = signedHook(config, source, jsonObject(text) ?? { text, user_id: 'cli' });
      const res = await sb.app.request(`/hooks/${source}`, request);
      const body = (await res.json()) as Record<string, any>;
      if (res.status >= 400) throw new Error(`${body.error?.code}: ${body.error?.message}`);
      const ids = (body.executions as { id: string }[]).map((e) => e.id);
      return printReply(await answerOf(sb, config, role, ids), config, io);
    });
  },

  async replay(config, args, io) {
    const [id] = args;
    if (!id) throw new UsageError('replay needs an execution id: switchboard replay <execution-id>');
    const role: Role = config.databaseUrl ? 'web' : 'all';
    return withSwitchboard(config, role, io, async (sb) => {
      const { json } = await call(sb, 'POST', `/api/executions/${id}/replay`);
      io.err(`replayed ${id} as ${json.execution_id}`);
      return printReply(await answerOf(sb, config, role, [json.execution_id]), config, io);
    });
  },

  async agents(config, args, io) {
    const [action = 'list', name] = args;
    return withSwitchboard(config, 'web', io, async (sb) => {
      if (action === 'enable' || action === 'disable') {
        if (!name) throw new UsageError(`agents ${action} needs an agent name`);
        const { json } = await call(sb, 'PATCH', `/api/agents/${encodeURIComponent(name)}`, { enabled: action === 'enable' });
        io.out(`${json.name}: ${json.enabled ? 'enabled' : 'disabled'}`);
        return 0;
      }
      if (action !== 'list') throw new UsageError('agents takes list, enable <name> or disable <name>');
      const { json } = await call(sb, 'GET', '/api/agents');
      for (const a of json.agents) io.out(`${a.enabled ? 'on ' : 'off'}  ${a.name.padEnd(10)} ${a.description}`);
      return 0;
    });
  },

  async executions(config, args, io) {
    const { values } = parseArgs({
      args,
      options: { status: { type: 'string' }, agent: { type: 'string' }, channel: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } },
    });
    const query = new URLSearchParams(Object.entries({ ...values, json: undefined }).filter(([, v]) => v !== undefined) as [string, string][]);
    return withSwitchboard(config, 'web', io, async (sb) => {
      const { json } = await call(sb, 'GET', `/api/executions?${query}`);
      if (values.json) {
        io.out(JSON.stringify(json.executions, null, 2));
        return 0;
      }
      for (const e of json.executions) {
        const cost = e.cost_usd === null ? '' : `$${e.cost_usd.toFixed(4)}`;
        io.out(
          [
            e.id,
            e.status.padEnd(9),
            e.channel.padEnd(8),
            e.agent.padEnd(9),
            `${e.attempts}x`,
            e.delivered ? `${e.delivered.parts}/${e.delivered.total ?? '?'} parts` : '-',
            e.provider ?? '-',
            `${e.latency_ms ?? '-'}ms`,
            cost,
            e.error ?? '',
          ].join('  '),
        );
      }
      if (!json.executions.length) io.out('no executions match');
      return 0;
    });
  },

  async routes(config, args, io) {
    const [action = 'list', ...rest] = args;
    return withSwitchboard(config, 'web', io, async (sb) => {
      if (action === 'list') {
        const { json } = await call(sb, 'GET', '/api/routes');
        for (const r of json.routes)
          io.out(`${r.id}  ${r.source}${r.event ? ` [${r.event}]` : ''} → ${r.agent} → ${r.destination.channel}:${r.destination.target}`);
        if (!json.routes.length) io.out('no routes: events on /hooks/<source> run their agent and keep the result in the execution log');
        return 0;
      }
      if (action === 'add') {
        const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { event: { type: 'string' } } });
        const [source, agent, to] = positionals;
        const colon = to?.indexOf(':') ?? -1;
        if (!source || !agent || !to || colon < 1) throw new UsageError('routes add needs <source> <agent> <channel>:<target>');
        const destination = { channel: to.slice(0, colon), target: to.slice(colon + 1) };
        const { json } = await call(sb, 'POST', '/api/routes', { source, agent, event: values.event, destination });
        io.out(`added route ${json.id}: ${json.source}${json.event ? ` [${json.event}]` : ''} → ${json.agent} → ${to}`);
        return 0;
      }
      if (action === 'delete' && rest[0]) {
        await call(sb, 'DELETE', `/api/routes/${encodeURIComponent(rest[0])}`);
        io.out(`deleted route ${rest[0]}`);
        return 0;
      }
      throw new UsageError('routes takes list, add <source> <agent> <channel>:<target> [--event TYPE], or delete <id>');
    });
  },

  async usage(config, args, io) {
    const { values } = parseArgs({ args, options: { days: { type: 'string', default: '7' }, group: { type: 'string' }, json: { type: 'boolean' } } });
    const query = new URLSearchParams({ days: values.days, ...(values.group ? { group: values.group } : {}) });
    return withSwitchboard(config, 'web', io, async (sb) => {
      const { json } = await call(sb, 'GET', `/api/usage?${query}`);
      if (values.json) {
        io.out(JSON.stringify(json, null, 2));
        return 0;
      }
      const columns = (what: string, key: string, runs: string, input: string, output: string, cost: string) =>
        [what.padEnd(9), key.padEnd(24), runs.padStart(6), input.padStart(10), output.padStart(10), cost.padStart(11)].join(' ');
      const line = (what: string, key: string, r: Record<string, any>) =>
        columns(what, key, String(r.executions), String(r.input_tokens), String(r.output_tokens), `$${r.cost_usd.toFixed(4)}`);
      io.out(`Model usage since ${json.since.slice(0, 10)} (UTC, ${json.days} day${json.days === 1 ? '' : 's'})`);
      io.out(columns('', '', 'runs', 'input', 'output', 'cost'));
      io.out(line('total', '', json.totals));
      for (const [what, rows] of [
        ['day', json.by_day],
        ['agent', json.by_agent],
        ['provider', json.by_provider],
        ['tenant', json.by_tenant],
      ] as const) {
        for (const r of rows) io.out(line(what, r[what] ?? '', r));
      }
      for (const r of json.rows ?? []) io.out(line('group', json.group.map((g: string) => r[g]).join(' / '), r));
      return 0;
    });
  },

  async access(config, args, io) {
    return withSwitchboard(config, 'web', io, async (sb) => {
      try {
        return await accessCommand((method, path, body) => call(sb, method, path, body), args, io.out);
      } catch (err) {
        throw err instanceof AccessUsageError ? new UsageError(err.message) : err;
      }
    });
  },

  async github(config, args, io) {
    if (args[0] !== 'manifest') throw new UsageError('github takes: manifest');
    const { printGithubManifest } = await import('../scripts/github-manifest.ts');
    return printGithubManifest(config.publicUrl, io);
  },

  async slack(config, args, io) {
    const [verb, ...flags] = args;
    if (verb !== 'manifest' || flags.some((f) => f !== '--socket')) throw new UsageError('slack takes: manifest [--socket]');
    const { printSlackManifest } = await import('../scripts/slack-manifest.ts');
    return printSlackManifest(config.publicUrl, { socket: flags.includes('--socket') }, io);
  },

  async telegram(config, args, io) {
    if (args[0] !== 'set-webhook' && args[0] !== 'info') throw new UsageError('telegram takes: set-webhook | info');
    const { runTelegramCommand } = await import('../scripts/telegram.ts');
    return runTelegramCommand(config, args[0], io);
  },

  async 'admin-token'(config, args, io) {
    if (args[0] !== 'rotate') throw new UsageError('admin-token takes: rotate');
    if (config.adminToken) {
      io.err('ADMIN_TOKEN is set in the environment, and it wins over a stored token: change ADMIN_TOKEN (e.g. `openssl rand -hex 32`) and restart instead.');
      return 1;
    }
    const { openSettings } = await import('../db/index.ts');
    const { newAdminToken, tokenFingerprint, ADMIN_TOKEN_CACHE_MS } = await import('./admin-token.ts');
    const settings = await openSettings({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 1 });
    try {
      const token = newAdminToken();
      const hash = await settings.rotateAdminToken(token);
      io.out(token);
      io.err(
        `New admin token (fingerprint ${tokenFingerprint(hash)}) printed above, once; only its hash is stored. ` +
          `The old token stops working in every running process within ${ADMIN_TOKEN_CACHE_MS / 1000} s.`,
      );
      return 0;
    } finally {
      await settings.close();
    }
  },

  async doctor(config, _args, io) {
    const { runDoctor } = await import('./doctor.ts');
    return runDoctor(config, io);
  },
};

/**
 * Where the CLI prints and what it reads: the process's own streams and environment by default; a test passes its
 * own, and runs a verb in-process.
 */
export type CliIo = Output & { env?: Record<string, string | undefined> };

export async function main(argv: string[], io: CliIo = CONSOLE_OUTPUT): Promise<number> {
  const [verb, ...args] = argv;
  if (!verb || verb === 'help' || verb === '--help' || verb === '-h') {
    io.out(USAGE);
    return verb ? 0 : 2;
  }
  const run = verbs[verb];
  if (!run) {
    io.err(`Unknown verb "${verb}".\n\n${USAGE}`);
    return 2;
  }
  let config: Config | undefined;
  try {
    config = loadConfig(io.env);
    return await run(config, args, io);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof DataDirInUseError || err instanceof DataDirUnsafeError) io.err(err.message);
    else if (err instanceof UsageError) io.err(`${err.message}\n\n${USAGE}`);
    else
      io.err(createRedactor(config ? configuredSecrets(config) : {}).text(`switchboard ${verb} failed: ${err instanceof Error ? err.message : String(err)}`));
    return err instanceof UsageError ? 2 : 1;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
