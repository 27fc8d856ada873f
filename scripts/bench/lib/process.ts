/** Starts Switchboard processes for benchmarks and reads their memory. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..', '..');
export const BENCH_TOKEN = 'bench-admin-token-0123456789';

export async function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
  });
}

export async function waitReady(base: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${base} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function rssMb(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return Math.round(kb / 1024);
  } catch {
    return Number.NaN;
  }
}

export type BenchProcess = { child: ChildProcess; base?: string; stop(): Promise<void> };

/** `switchboard start --role <role>` with benchmark-friendly limits (no rate limit, deep queue allowed). */
export async function startSwitchboard(role: 'web' | 'worker' | 'all', env: Record<string, string>): Promise<BenchProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'src', 'cli.ts'), 'start', '--role', role], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      ADMIN_TOKEN: BENCH_TOKEN,
      LOG_LEVEL: 'error',
      RATE_LIMIT_BURST: '100000',
      RATE_LIMIT_PER_MINUTE: '100000',
      QUEUE_DEPTH_LIMIT: '10000000',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // A worker serves only /healthz, /readyz and /metrics, which is enough to wait for it to be ready.
  const base = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_, fail) => child.once('exit', (code) => fail(new Error(`switchboard --role ${role} exited with ${code}`))));
  exited.catch(() => {});
  if (base) await Promise.race([waitReady(base), exited]);
  return {
    child,
    base,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** A bare Hono app doing the same Standard Webhooks check and nothing else: the floor. */
export async function startFloor(secret: string, slackSecret: string): Promise<BenchProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'bench', 'lib', 'floor-server.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, PORT: String(port), SECRET: secret, SLACK_SECRET: slackSecret },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  await waitReady(base);
  return {
    child,
    base,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
