/**
 * Slack slash-command ack latency: a spawned `switchboard start` (embedded PGlite) receives N `/sb help` commands,
 * CONCURRENCY at a time, over each transport in turn: signed posts to /slack/events over real HTTP, then
 * slash_commands envelopes over Socket Mode (the fake's WebSocket server). Measured: the time to the ephemeral ack
 * Slack needs within 3 s, and, for context, the time until the answer reaches the fake Slack's response_url.
 * Run: `npm run bench -- slack` (writes bench-results/slack.json).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APP_TOKEN, BOT_TOKEN, commandRequest, SIGNING_SECRET, startFakeSlack } from '../../test/fakes/slack-api.ts';
import { envelope } from '../../test/fakes/slack-socket.ts';
import { startSwitchboard } from './lib/process.ts';
import { summarize } from './lib/stats.ts';

const N = Number(process.env.BENCH_N ?? 300);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10);
const WARMUP = 20;

const TRANSPORTS = ['http', 'socket'] as const;

export async function run() {
  const fake = await startFakeSlack();
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-bench-slack-'));
  // Both transports on one server: the signed Request URL, and the Socket Mode connection the app token opens.
  const server = await startSwitchboard('all', {
    DATA_DIR: dataDir,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_APP_TOKEN: APP_TOKEN,
    SLACK_API_URL: fake.apiUrl,
  });
  const sentAt = new Map<string, number>();
  try {
    await fake.socket.waitForOpen();
    async function one(id: string, via: (typeof TRANSPORTS)[number]): Promise<number> {
      const init = commandRequest({ text: 'help', user_id: `U${id.padStart(8, '0')}`, response_url: fake.responseUrl(id) });
      sentAt.set(id, Date.now());
      if (via === 'socket') {
        // The same command as Slack sends it over the socket: the form's fields as the envelope's payload.
        const command = envelope('slash_commands', Object.fromEntries(new URLSearchParams(String(init.body))));
        const sent = Date.now();
        fake.socket.send(command);
        const ack = await fake.socket.ackOf(command.envelope_id, 30_000);
        if (ack?.payload?.response_type !== 'ephemeral') throw new Error(`envelope ${id}: ${JSON.stringify(ack)}`);
        return ack.at - sent;
      }
      const started = performance.now();
      const res = await fetch(`${server.base}/slack/events`, init);
      const body = (await res.json()) as { response_type?: string };
      const ms = performance.now() - started;
      if (res.status !== 200 || body.response_type !== 'ephemeral') throw new Error(`request ${id}: ${res.status} ${JSON.stringify(body)}`);
      return ms;
    }
    async function batch(prefix: string, count: number, via: (typeof TRANSPORTS)[number]): Promise<number[]> {
      const samples: number[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < count) samples.push(await one(`${prefix}${next++}`, via));
        }),
      );
      return samples;
    }

    const rows: Record<string, unknown>[] = [];
    const data: Record<string, unknown> = { n: N, concurrency: CONCURRENCY, database: 'pglite' };
    for (const via of TRANSPORTS) {
      await batch(`${via}w`, WARMUP, via);
      const started = performance.now();
      const ack = await batch(`${via}m`, N, via);
      const seconds = (performance.now() - started) / 1000;

      // Every measured command must also be answered, once, at its response_url.
      const deadline = Date.now() + 120_000;
      const measured = () => fake.responses.filter((r) => r.id.startsWith(`${via}m`));
      while (new Set(measured().map((r) => r.id)).size < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const replies = measured();
      if (replies.length !== N) throw new Error(`${via}: expected ${N} replies at response_url, got ${replies.length}`);
      const toReply = replies.map((r) => r.at - sentAt.get(r.id)!);

      const a = summarize(ack);
      const r = summarize(toReply);
      rows.push(
        { measure: `${via}: slash command → ack (ms)`, n: a.n, p50: a.p50, p90: a.p90, p99: a.p99, max: a.max },
        { measure: `${via}: slash command → answer at response_url (ms)`, n: r.n, p50: r.p50, p90: r.p90, p99: r.p99, max: r.max },
        { measure: `${via}: acks per second (concurrency ${CONCURRENCY})`, n: N, p50: Math.round(N / seconds), p90: '', p99: '', max: '' },
      );
      data[via] = { ackMs: a, replyMs: r, acksPerSecond: N / seconds };
    }
    return { rows, data };
  } finally {
    await server.stop();
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
