/**
 * Slack slash-command ack latency: a spawned `switchboard start` (embedded PGlite) receives N signed `/sb help`
 * commands, CONCURRENCY at a time, over real HTTP. Measured: the time to the ephemeral ack Slack needs within
 * 3 s, and, for context, the time until the answer reaches the fake Slack's response_url.
 * Run: `npm run bench -- slack` (writes bench-results/slack.json).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BOT_TOKEN, commandRequest, SIGNING_SECRET, startFakeSlack } from '../../test/fakes/slack-api.ts';
import { startSwitchboard } from './lib/process.ts';
import { summarize } from './lib/stats.ts';

const N = Number(process.env.BENCH_N ?? 300);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10);
const WARMUP = 20;

export async function run() {
  const fake = await startFakeSlack();
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-bench-slack-'));
  const server = await startSwitchboard('all', { DATA_DIR: dataDir, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: fake.apiUrl });
  const sentAt = new Map<string, number>();
  try {
    async function one(id: string): Promise<number> {
      const init = commandRequest({ text: 'help', user_id: `U${id.padStart(8, '0')}`, response_url: fake.responseUrl(id) });
      const started = performance.now();
      sentAt.set(id, Date.now());
      const res = await fetch(`${server.base}/slack/events`, init);
      const body = (await res.json()) as { response_type?: string };
      const ms = performance.now() - started;
      if (res.status !== 200 || body.response_type !== 'ephemeral') throw new Error(`request ${id}: ${res.status} ${JSON.stringify(body)}`);
      return ms;
    }
    async function batch(prefix: string, count: number): Promise<number[]> {
      const samples: number[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < count) samples.push(await one(`${prefix}${next++}`));
        }),
      );
      return samples;
    }

    await batch('w', WARMUP);
    const started = performance.now();
    const ack = await batch('m', N);
    const seconds = (performance.now() - started) / 1000;

    // Every measured command must also be answered, once, at its response_url.
    const deadline = Date.now() + 120_000;
    const answered = () => new Set(fake.responses.filter((r) => r.id.startsWith('m')).map((r) => r.id)).size;
    while (answered() < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const replies = fake.responses.filter((r) => r.id.startsWith('m'));
    if (replies.length !== N) throw new Error(`expected ${N} replies at response_url, got ${replies.length}`);
    const toReply = replies.map((r) => r.at - sentAt.get(r.id)!);

    const a = summarize(ack);
    const r = summarize(toReply);
    return {
      rows: [
        { measure: 'slash command → ack (ms)', n: a.n, p50: a.p50, p90: a.p90, p99: a.p99, max: a.max },
        { measure: 'slash command → answer at response_url (ms)', n: r.n, p50: r.p50, p90: r.p90, p99: r.p99, max: r.max },
        { measure: `acks per second (concurrency ${CONCURRENCY})`, n: N, p50: Math.round(N / seconds), p90: '', p99: '', max: '' },
      ],
      data: { n: N, concurrency: CONCURRENCY, database: 'pglite', ackMs: a, replyMs: r, acksPerSecond: N / seconds },
    };
  } finally {
    await server.stop();
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
