/**
 * A TCP relay in front of PostgreSQL that counts round trips as the wire shows them: every simple query ('Q') and
 * every Sync ('S') a client sends is one wait for the server, until its ReadyForQuery ('Z'). Each is counted for
 * the statement it ran (the text of its Parse, or of the prepared statement its Bind named) and for the
 * connection's application_name, so a count tells which code paid for it, whichever driver (postgres.js, pg) sent
 * it; `waits` adds up how long the clients waited for each (the server's queueing and work included).
 */
import { createServer, connect, type Socket } from 'node:net';

/** Round trips by application_name, then by statement (its first words, whitespace folded). */
export type RoundTrips = Record<string, Record<string, number>>;

export type RoundTripCounter = {
  /** `url` with its host and port pointed at the relay. */
  url: string;
  /** Counts so far (a copy). */
  counts(): RoundTrips;
  /** Milliseconds waited so far, by the same keys as `counts`. */
  waits(): RoundTrips;
  /** Round trips in all, or of one application_name. */
  total(application?: string): number;
  close(): Promise<void>;
};

const SSL_REQUEST = 80877103;
const GSS_REQUEST = 80877104;
const LABEL_CHARS = 72;

export const statementLabel = (text: string) => text.replace(/\s+/g, ' ').trim().slice(0, LABEL_CHARS);

export async function startRoundTripCounter(databaseUrl: string): Promise<RoundTripCounter> {
  const target = new URL(databaseUrl);
  const counts: RoundTrips = {};
  const waits: RoundTrips = {};
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    const forget = () => {
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', forget);
    // Waits in the order they were sent; each ReadyForQuery after the one that ends the start-up ends the oldest.
    const sent: { label: string; at: number }[] = [];
    let ready = 0;
    let answers = Buffer.alloc(0);
    let sslAnswers = 0;
    upstream.on('data', (chunk) => {
      client.write(chunk);
      answers = answers.length ? Buffer.concat([answers, chunk]) : chunk;
      for (;;) {
        if (sslAnswers > 0 && answers.length > 0) {
          sslAnswers--;
          answers = answers.subarray(1); // 'N' or 'S', one byte
          continue;
        }
        if (answers.length < 5) return;
        const length = answers.readInt32BE(1) + 1;
        if (answers.length < length) return;
        if (answers[0] === 0x5a && ready++ > 0) {
          const wait = sent.shift();
          if (wait) {
            const byStatement = (waits[application || '(none)'] ??= {});
            byStatement[wait.label] = (byStatement[wait.label] ?? 0) + performance.now() - wait.at;
          }
        }
        answers = answers.subarray(length);
      }
    });
    upstream.on('close', () => client.destroy());
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    let application = '';
    let started = false;
    let pending = Buffer.alloc(0);
    let current = '';
    const prepared = new Map<string, string>();
    const count = (label: string) => {
      const byStatement = (counts[application || '(none)'] ??= {});
      byStatement[label] = (byStatement[label] ?? 0) + 1;
      sent.push({ label, at: performance.now() });
    };
    const cstring = (buf: Buffer, at: number): [string, number] => {
      const end = buf.indexOf(0, at);
      return [buf.toString('utf8', at, end), end + 1];
    };
    client.on('data', (chunk) => {
      upstream.write(chunk);
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      for (;;) {
        if (!started) {
          if (pending.length < 8) return;
          const length = pending.readInt32BE(0);
          if (pending.length < length) return;
          const code = pending.readInt32BE(4);
          if (code === SSL_REQUEST || code === GSS_REQUEST) sslAnswers++;
          else {
            started = true;
            // Startup parameters: name\0value\0 … \0
            let at = 8;
            while (at < length - 1) {
              const [name, next] = cstring(pending, at);
              const [value, after] = cstring(pending, next);
              if (name === 'application_name') application = value;
              at = after;
            }
          }
          pending = pending.subarray(length);
          continue;
        }
        if (pending.length < 5) return;
        const length = pending.readInt32BE(1) + 1;
        if (pending.length < length) return;
        const type = String.fromCharCode(pending[0]!);
        const body = pending.subarray(5, length);
        if (type === 'Q') count(statementLabel(cstring(body, 0)[0]));
        else if (type === 'P') {
          const [name, next] = cstring(body, 0);
          current = statementLabel(cstring(body, next)[0]);
          if (name) prepared.set(name, current);
        } else if (type === 'B') {
          const [, next] = cstring(body, 0);
          const [name] = cstring(body, next);
          if (name) current = prepared.get(name) ?? current;
        } else if (type === 'S') count(current);
        pending = pending.subarray(length);
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as { port: number };
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  const sum = (byStatement: Record<string, number> = {}) => Object.values(byStatement).reduce((a, b) => a + b, 0);
  return {
    url: url.toString(),
    counts: () => structuredClone(counts),
    waits: () => structuredClone(waits),
    total: (application) => (application === undefined ? Object.values(counts).reduce((a, s) => a + sum(s), 0) : sum(counts[application])),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

/** `after` minus `before`, statement by statement, leaving out what did not change. */
export function roundTripsBetween(before: RoundTrips, after: RoundTrips): RoundTrips {
  const delta: RoundTrips = {};
  for (const [application, byStatement] of Object.entries(after)) {
    for (const [label, n] of Object.entries(byStatement)) {
      const d = n - (before[application]?.[label] ?? 0);
      if (d) (delta[application] ??= {})[label] = d;
    }
  }
  return delta;
}
