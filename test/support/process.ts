/** Runs the real CLI as a child process, as a user would. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Most tests talk to the bot as strangers and are about something else than who may: they run with every channel
 * open and no quota (test/support/switchboard.ts also opens `status` to members). Access tests use the real defaults.
 */
export const RELAXED_ACCESS_ENV: Record<string, string> = { TELEGRAM_ACCESS: 'open', WHATSAPP_ACCESS: 'open', GITHUB_ACCESS: 'anyone', QUOTA_PER_HOUR: '0' };

export const ROOT = resolve(import.meta.dirname, '..', '..');
/** The entry point `npx switchboard` runs (it hands src/cli.ts its arguments after setting up module loading). */
export const CLI = resolve(ROOT, 'bin', 'switchboard.js');
const COMPILE_CACHE = join(tmpdir(), 'node-compile-cache');

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
  });
}

/** The environment a child gets: only what the test says, plus PATH/HOME so Node runs. */
export function childEnv(env: Record<string, string>): Record<string, string> {
  // Channels open to strangers and no quota, as in test/support/switchboard.ts: these tests are about something else.
  // V8's code cache on disk, as bin/switchboard.js keeps it: each child skips compiling the modules the last one compiled.
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    LOG_LEVEL: 'warn',
    NODE_COMPILE_CACHE: COMPILE_CACHE,
    ...RELAXED_ACCESS_ENV,
    ...env,
  };
}

export type Spawned = { child: ChildProcess; output(): string; exited: Promise<number | null> };

export function spawnCli(args: string[], env: Record<string, string>): Spawned {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
  return { child, output: () => out, exited };
}

export async function runCli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<{ code: number | null; output: string }> {
  const p = spawnCli(args, env);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, output: p.output() };
}

/** Polls a URL until it answers 200 (or the deadline passes). */
export async function waitForOk(url: string, timeoutMs = 60_000): Promise<number> {
  const start = Date.now();
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return Date.now() - start;
    } catch {}
    if (Date.now() - start > timeoutMs) throw new Error(`${url} did not become ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
