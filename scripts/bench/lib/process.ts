/** Starts Switchboard processes for benchmarks and reads their memory. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type postgres from 'postgres';

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

/** CPU milliseconds (user + system) a process has used so far, from /proc/<pid>/stat (0 once it is gone). */
export function procCpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

/** CPU milliseconds used so far by each PostgreSQL backend connected to `database` (same machine), by pid. */
export async function backendCpuMs(admin: postgres.Sql, database: string): Promise<Map<number, number>> {
  const rows = await admin<{ pid: number }[]>`select pid from pg_stat_activity where datname = ${database}`;
  return new Map(rows.map(({ pid }) => [pid, procCpuMs(pid)]));
}

/** CPU milliseconds the backends spent between two `backendCpuMs` readings (a backend started since counts from 0). */
export const backendCpuSpent = (before: Map<number, number>, after: Map<number, number>) =>
  [...after.entries()].reduce((sum, [pid, ms]) => sum + ms - (before.get(pid) ?? 0), 0);

/** `startMs`: from spawn until /readyz answered 200. */
export type BenchProcess = { child: ChildProcess; base?: string; startMs: number; stop(): Promise<void> };

/** CPU seconds (user + system) the process has used, from process.cpuUsage() as its /metrics reports it. */
export async function cpuSeconds(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const value = /^switchboard_process_cpu_seconds_total\s+(\S+)/m.exec(text)?.[1];
  if (value === undefined) throw new Error('no switchboard_process_cpu_seconds_total in /metrics');
  return Number(value);
}

/**
 * `switchboard start --role <role>` with benchmark-friendly limits (no rate limit, deep queue allowed).
 * `cpuProfileDir` runs it under `node --cpu-prof`; the profile is written there when it stops.
 */
export async function startSwitchboard(
  role: 'web' | 'worker' | 'all',
  env: Record<string, string>,
  opts: { cpuProfileDir?: string } = {},
): Promise<BenchProcess> {
  const port = await freePort();
  const profile = opts.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfileDir] : [];
  const started = performance.now();
  const child = spawn(process.execPath, [...profile, join(ROOT, 'bin', 'switchboard.js'), 'start', '--role', role], {
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
  // A process draining a large backlog on a loaded machine may take minutes to answer its first /readyz.
  await Promise.race([waitReady(base, 300_000), exited]).catch((err) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    child,
    base,
    startMs: Math.round(performance.now() - started),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** A peer process (scripts/bench/lib/<script>.ts) that serves /readyz: the bare Hono floor or the bare Bolt app. */
export async function startPeer(script: 'floor-server' | 'bolt-server', env: Record<string, string>): Promise<BenchProcess> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'bench', 'lib', `${script}.ts`)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, PORT: String(port), ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  await waitReady(base);
  return {
    child,
    base,
    startMs: Math.round(performance.now() - started),
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
