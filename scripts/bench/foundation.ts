/**
 * Foundation numbers: cold start to /readyz on a fresh embedded database, warm start on an existing
 * one, POST /api/messages?wait=1 latency for `help` on PGlite, and the size of node_modules.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { summarize } from './lib/stats.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const TOKEN = 'bench-admin-token-0123456789';

async function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
  });
}

async function startServer(dataDir: string) {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'switchboard.js'), 'start'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      DATA_DIR: dataDir,
      PORT: String(port),
      ADMIN_TOKEN: TOKEN,
      LOG_LEVEL: 'error',
      RATE_LIMIT_BURST: '100000',
      RATE_LIMIT_PER_MINUTE: '100000',
    },
    stdio: 'ignore',
  });
  const base = `http://127.0.0.1:${port}`;
  for (;;) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 20));
  }
  const readyMs = performance.now() - started;
  const stop = async () => {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  };
  return { base, readyMs, stop };
}

export async function run() {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
  try {
    const cold = await startServer(dataDir);
    const samples: number[] = [];
    const N = 300;
    for (let i = 0; i < N + 20; i++) {
      const t = performance.now();
      const res = await fetch(`${cold.base}/api/messages?wait=1`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'help', user_id: `bench-${i % 50}` }),
      });
      const body = (await res.json()) as { status: string };
      if (res.status !== 200 || body.status !== 'succeeded') throw new Error(`unexpected answer ${res.status} ${JSON.stringify(body)}`);
      if (i >= 20) samples.push(performance.now() - t); // the first 20 warm the JIT and caches
    }
    await cold.stop();
    const warm = await startServer(dataDir);
    await warm.stop();
    const latency = summarize(samples);
    const nodeModulesMb = Number(execFileSync('du', ['-sm', join(ROOT, 'node_modules')], { encoding: 'utf8' }).split('\t')[0]);
    const data = { coldStartToReadyMs: Math.round(cold.readyMs), warmStartToReadyMs: Math.round(warm.readyMs), helpWait: latency, nodeModulesMb };
    return {
      data,
      rows: [
        { metric: 'cold start to /readyz (fresh PGlite)', value: `${data.coldStartToReadyMs} ms` },
        { metric: 'warm start to /readyz (existing PGlite)', value: `${data.warmStartToReadyMs} ms` },
        { metric: `POST /api/messages?wait=1 "help" p50 (n=${latency.n})`, value: `${latency.p50} ms` },
        { metric: 'same, p90 / p99', value: `${latency.p90} / ${latency.p99} ms` },
        { metric: 'node_modules size', value: `${nodeModulesMb} MB` },
      ],
    };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
