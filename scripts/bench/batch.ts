/**
 * Ingest batch cost on PostgreSQL (issue 13), deterministic: what one group-commit batch asks of the database.
 * Batches of Slack-like envelopes (one person each, under the hourly quota) and of webhook-like envelopes (no
 * quota) go through the real store, over a TCP proxy that reads the wire: round trips per batch (the client
 * waiting for an answer before it sends again), statements per batch (Sync and simple Query messages), the
 * server's answer time per round trip, and the CPU the PostgreSQL backends spent per stored event
 * (/proc/<pid>/stat of the backends of the benchmark's own database). The proxy holds each answer back 1 ms (not
 * counted in the times it reports), so statements a client sends without waiting count as one round trip.
 *
 * Env: BENCH_PG_URL (default the local server), BENCH_BATCHES (default 200), BENCH_BATCH_ITEMS (default 16).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { openStore } from '../../db/index.ts';
import type { Envelope } from '../../src/types.ts';
import { backendCpuMs, backendCpuSpent } from './lib/process.ts';

const PG_ADMIN = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const BATCHES = Number(process.env.BENCH_BATCHES ?? 200);
const ITEMS = Number(process.env.BENCH_BATCH_ITEMS ?? 16);
const WIRE_DELAY_MS = 1;

/**
 * Over every connection: round trips (the client sends while nothing it sent is still unanswered), statements
 * (Sync and simple Query messages), Parse messages (a statement prepared again), bytes sent, and the wait for each round
 * trip's last answer (ReadyForQuery), also summed by the round trip's position in its batch.
 */
type Wire = { roundTrips: number; statements: number; parses: number; bytes: number; waitsMs: number[]; position: number; byPosition: number[] };

/** Splits a byte stream into protocol messages (a type byte, then a length that counts itself). */
function messages(onType: (type: number) => void) {
  let pending: Buffer = Buffer.alloc(0);
  return {
    /** Whether a message is cut short at the end of what came so far. */
    get partial() {
      return pending.length > 0;
    },
    push(chunk: Buffer) {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 5 && pending.length >= pending.readInt32BE(1) + 1) {
        onType(pending[0]!);
        pending = pending.subarray(pending.readInt32BE(1) + 1);
      }
    },
  };
}

/** A proxy that counts what crosses it; `wire` is the running total over every connection. */
async function startCountingProxy(target: URL) {
  const wire: Wire = { roundTrips: 0, statements: 0, parses: 0, bytes: 0, waitsMs: [], position: 0, byPosition: [] };
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    let unanswered = 0;
    let sentAt = 0;
    let startup: Buffer | undefined = Buffer.alloc(0) as Buffer;
    const sent = messages((type) => {
      if (type === 0x53 || type === 0x51) {
        wire.statements++;
        unanswered++;
      }
      if (type === 0x50) wire.parses++;
    });
    const answers = messages((type) => {
      // ReadyForQuery: one statement answered.
      if (type !== 0x5a || unanswered === 0 || --unanswered > 0) return;
      const ms = performance.now() - sentAt - WIRE_DELAY_MS;
      wire.waitsMs.push(ms);
      wire.byPosition[wire.position] = (wire.byPosition[wire.position] ?? 0) + ms;
      wire.position++;
    });
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      wire.bytes += chunk.length;
      // The startup packet has no type byte.
      if (startup) {
        startup = Buffer.concat([startup, chunk]);
        if (startup.length < 4 || startup.length < startup.readInt32BE(0)) return;
        chunk = startup.subarray(startup.readInt32BE(0));
        startup = undefined;
      }
      if (unanswered === 0 && !sent.partial && chunk.length) {
        wire.roundTrips++;
        sentAt = performance.now();
      }
      sent.push(chunk);
    });
    // Answers are held back a little, as a network would: a client that sends its next statement without waiting
    // for the answer to the last then shows as one round trip even when the server answers faster than the client
    // builds that next statement.
    upstream.on('data', (chunk: Buffer) => {
      setTimeout(() => {
        client.write(chunk);
        answers.push(chunk);
      }, WIRE_DELAY_MS);
    });
    for (const s of [client, upstream]) s.on('error', () => {});
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    port: (server.address() as { port: number }).port,
    wire,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

function envelope(kind: 'slack' | 'hooks', n: number): Envelope {
  const id = `${kind}-${process.pid}-${n}-${randomUUID()}`;
  const base = { deliveryId: id, text: `is deploy ${n} done?`, replyRef: { kind: 'thread' }, receivedAt: new Date().toISOString() };
  return (
    kind === 'slack'
      ? { ...base, channel: 'slack', tenantId: 'T0BENCH', conversationKey: 'T0BENCH:C0BENCH01', userId: `U${id}`, userName: `user${n}` }
      : { ...base, channel: 'hooks', tenantId: 'bench', conversationKey: 'bench', userId: 'bench', contentKey: `sha256:${id}` }
  ) as Envelope;
}

export async function run() {
  const admin = postgres(PG_ADMIN, { max: 1, onnotice: () => {} });
  const dbName = `sb_batch_${Date.now()}`;
  await admin.unsafe(`create database ${dbName}`);
  const url = new URL(PG_ADMIN);
  url.pathname = `/${dbName}`;
  const proxy = await startCountingProxy(url);
  const viaProxy = new URL(url);
  viaProxy.port = String(proxy.port);
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-batch-'));
  const opened = await openStore({
    databaseUrl: viaProxy.toString(),
    dataDir,
    queue: { maxAttempts: 3, retryDelaySeconds: 1, jobTimeoutSeconds: 60, supervise: false, onError: () => {} },
  });
  const ask = { agent: 'ask', intent: { name: 'ask' as const, args: {} } };
  const rows = [];
  const data: Record<string, unknown> = {};
  try {
    let n = 0;
    for (const kind of ['slack', 'hooks'] as const) {
      const batch = () =>
        Promise.all(
          Array.from({ length: ITEMS }, () => {
            const quota = kind === 'slack' ? { limit: 60, since: new Date(Date.now() - 3_600_000), windowSeconds: 3600 } : undefined;
            return opened.store.ingest(envelope(kind, ++n), [ask], quota);
          }),
        );
      for (let i = 0; i < 20; i++) await batch(); // warm: statements prepared, conversations created
      const before = { ...proxy.wire, waitsMs: proxy.wire.waitsMs.length };
      const cpuBefore = await backendCpuMs(admin, dbName);
      const webBefore = process.cpuUsage();
      const started = performance.now();
      proxy.wire.byPosition = [];
      for (let i = 0; i < BATCHES; i++) {
        proxy.wire.position = 0;
        await batch();
      }
      const elapsed = performance.now() - started;
      const web = process.cpuUsage(webBefore);
      const pgMs = backendCpuSpent(cpuBefore, await backendCpuMs(admin, dbName));
      const waits = proxy.wire.waitsMs.slice(before.waitsMs).sort((a, b) => a - b);
      const events = BATCHES * ITEMS;
      const result = {
        waitMsByRoundTrip: proxy.wire.byPosition
          .map((sum) => Math.round((sum / BATCHES) * 100) / 100)
          .slice(0, 12)
          .join(' '),
        roundTripsPerBatch: (proxy.wire.roundTrips - before.roundTrips) / BATCHES,
        statementsPerBatch: (proxy.wire.statements - before.statements) / BATCHES,
        parsesPerBatch: (proxy.wire.parses - before.parses) / BATCHES,
        bytesSentPerEvent: Math.round((proxy.wire.bytes - before.bytes) / events),
        answerMsP50: Math.round(waits[Math.floor(waits.length / 2)]! * 100) / 100,
        answerMsP99: Math.round(waits[Math.floor(waits.length * 0.99)]! * 100) / 100,
        batchMs: Math.round((elapsed / BATCHES) * 100) / 100,
        postgresCpuMsPerEvent: Math.round((pgMs / events) * 1000) / 1000,
        clientCpuMsPerEvent: Math.round(((web.user + web.system) / 1000 / events) * 1000) / 1000,
      };
      data[kind] = result;
      rows.push({ envelopes: `${kind} (${ITEMS} per batch${kind === 'slack' ? ', hourly quota' : ''})`, ...result });
    }
  } finally {
    await opened.close();
    proxy.close();
    rmSync(dataDir, { recursive: true, force: true });
    await admin.unsafe(`drop database if exists ${dbName} with (force)`).catch(() => {});
    await admin.end();
  }
  return { rows, data: { batches: BATCHES, items: ITEMS, ...data } };
}
