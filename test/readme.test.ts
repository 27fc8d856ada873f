/**
 * The README's examples, run as written. Every fenced shell block in README.md and docs/*.md carries a marker in
 * the Markdown source (an HTML comment, invisible when rendered) on the line before it:
 *
 *   <!-- readme-test: run; server: running; expect: "summarize"; exit: 0; expect-file: out.json "text" -->
 *   <!-- readme-test: skip (why it cannot run here) -->
 *
 * `run` blocks run in document order with bash against a real Switchboard this test starts (fresh DATA_DIR, its own
 * port, ADMIN_TOKEN and $TOKEN set, HOOK_SECRET_CI, Slack and Telegram pointed at the fake platform servers) and
 * must exit 0 (or `exit`) and print every `expect`. `server: running` needs the server up; other blocks run with it
 * stopped, as the README says the CLI needs in embedded mode. `npx switchboard` is this checkout, and
 * `localhost:3000` is the test server's address. A shell block with no marker fails the test.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_TOKEN as SLACK_BOT_TOKEN, SIGNING_SECRET, startFakeSlack, type FakeSlack } from './fakes/slack-api.ts';
import { BOT_TOKEN as TELEGRAM_BOT_TOKEN, startFakeTelegram, WEBHOOK_SECRET, type FakeTelegram } from './fakes/telegram-api.ts';
import { CLI, freePort, ROOT, spawnCli, waitForOk, type Spawned } from './support/process.ts';
import { ADMIN_TOKEN, HOOK_SECRET } from './support/switchboard.ts';

const SHELL = new Set(['sh', 'bash', 'shell', 'console']);
const MARKER = /^<!--\s*readme-test:\s*(run|skip)\b(.*?)-->$/;

type Block = {
  where: string;
  code: string;
  marker?: { action: 'run' | 'skip'; options: string };
};

type RunSpec = { server: 'running' | 'stopped'; expects: string[]; exit: number; files: { name: string; text: string }[] };

/** Fenced shell blocks with the marker on the nearest non-blank line above each. */
function shellBlocks(file: string): Block[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})(\w*)/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, lang] = open;
    let end = i + 1;
    while (end < lines.length && !lines[end]!.trimStart().startsWith(fence!)) end++;
    if (SHELL.has(lang!)) {
      let above = i - 1;
      while (above >= 0 && lines[above]!.trim() === '') above--;
      const found = above >= 0 ? MARKER.exec(lines[above]!.trim()) : null;
      blocks.push({
        where: `${relative(ROOT, file)}:${i + 1}`,
        code: lines
          .slice(i + 1, end)
          .map((l) => (l.startsWith(indent!) ? l.slice(indent!.length) : l))
          .join('\n'),
        marker: found ? { action: found[1] as 'run' | 'skip', options: found[2]!.trim() } : undefined,
      });
    }
    i = end;
  }
  return blocks;
}

/** `server: running; expect: "a"; expect: "b"; exit: 1; expect-file: name "text"` → what to check. */
function runSpec(options: string): RunSpec {
  const spec: RunSpec = { server: 'stopped', expects: [], exit: 0, files: [] };
  for (const [, key, value] of options.matchAll(/([\w-]+):\s*((?:[^";]|"(?:[^"\\]|\\.)*")*)/g)) {
    const quoted = [...value!.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!.replace(/\\(.)/g, '$1'));
    if (key === 'server') spec.server = value!.trim() as RunSpec['server'];
    else if (key === 'expect') spec.expects.push(...quoted);
    else if (key === 'exit') spec.exit = Number(value);
    else if (key === 'expect-file') spec.files.push({ name: value!.trim().split(/\s+/)[0]!, text: quoted[0]! });
    else throw new Error(`unknown readme-test option "${key}"`);
  }
  return spec;
}

const documents = [
  join(ROOT, 'README.md'),
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => join(ROOT, 'docs', f)),
];
const blocks = documents.flatMap(shellBlocks);
const runnable = blocks.filter((b) => b.marker?.action === 'run');

describe('README and docs shell examples', () => {
  it('every shell block says whether the README test runs it or why it cannot', () => {
    expect(blocks.filter((b) => !b.marker).map((b) => b.where)).toEqual([]);
    expect(blocks.filter((b) => b.marker?.action === 'skip' && !/^\(.+\)$/.test(b.marker.options)).map((b) => b.where)).toEqual([]);
    expect(runnable.length).toBeGreaterThan(0);
  });

  it('finds a block without a marker, and reads indented blocks and their options', () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-readme-md-'));
    try {
      const file = join(dir, 'x.md');
      writeFileSync(
        file,
        [
          '```sh',
          'echo bare',
          '```',
          '',
          '1. step',
          '   <!-- readme-test: run; expect: "a; b"; exit: 2 -->',
          '',
          '   ```bash',
          '   echo hi',
          '   ```',
          '```json',
          '{}',
          '```',
        ].join('\n'),
      );
      const [bare, listed, ...rest] = shellBlocks(file);
      expect(bare).toMatchObject({ where: expect.stringMatching(/x\.md:1$/), code: 'echo bare', marker: undefined });
      expect(listed).toMatchObject({ code: 'echo hi', marker: { action: 'run' } });
      expect(runSpec(listed!.marker!.options)).toEqual({ server: 'stopped', expects: ['a; b'], exit: 2, files: [] });
      expect(rest).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('README and docs shell examples, run as written', { timeout: 120_000 }, () => {
  let slack: FakeSlack;
  let telegram: FakeTelegram;
  let work: string;
  let port: number;
  let env: Record<string, string>;
  let server: Spawned | undefined;

  beforeAll(async () => {
    [slack, telegram] = await Promise.all([startFakeSlack(), startFakeTelegram()]);
    work = mkdtempSync(join(tmpdir(), 'switchboard-readme-'));
    port = await freePort();
    env = {
      PORT: String(port),
      DATA_DIR: join(work, '.data'),
      ADMIN_TOKEN,
      TOKEN: ADMIN_TOKEN,
      HOOK_SECRET_CI: HOOK_SECRET,
      PUBLIC_URL: 'https://switchboard.example.com',
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_BOT_TOKEN,
      SLACK_API_URL: slack.apiUrl,
      TELEGRAM_BOT_TOKEN,
      TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      // Node 24 and the project's tools first, as `npm test` has them.
      PATH: `${join(ROOT, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
    };
  });

  afterAll(async () => {
    await stopServer();
    await Promise.all([slack?.close(), telegram?.close()]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function startServer() {
    if (server) return;
    server = spawnCli(['start'], env);
    await waitForOk(`http://127.0.0.1:${port}/readyz`, 90_000).catch((err) => {
      throw new Error(`${(err as Error).message}\n${server?.output()}`);
    });
  }

  async function stopServer() {
    if (!server) return;
    const s = server;
    server = undefined;
    if (s.child.exitCode === null) s.child.kill('SIGTERM');
    await s.exited;
  }

  function bash(code: string): Promise<{ code: number | null; output: string }> {
    // `npx switchboard` is this checkout's bin (with its compile cache), whatever npx would otherwise resolve; the rest of npx is untouched.
    const prelude = `set -eo pipefail\nnpx() { if [ "$1" = switchboard ]; then shift; node ${JSON.stringify(CLI)} "$@"; else command npx "$@"; fi; }\n`;
    const script = prelude + code.replace(/\b(localhost|127\.0\.0\.1):3000\b/g, `127.0.0.1:${port}`);
    return new Promise((resolve) => {
      const child = spawn('bash', ['-c', script], {
        cwd: work,
        env: { HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
      child.once('exit', (exit) => {
        clearTimeout(timer);
        resolve({ code: exit, output });
      });
    });
  }

  it.each(runnable.map((b) => [b.where, b] as const))('%s', async (_where, block) => {
    const spec = runSpec(block.marker!.options);
    if (spec.server === 'running') await startServer();
    else await stopServer();
    const { code, output } = await bash(block.code);
    expect({ exit: code, output }).toMatchObject({ exit: spec.exit });
    for (const text of spec.expects) expect(output).toContain(text);
    for (const file of spec.files) expect(readFileSync(join(work, file.name), 'utf8')).toContain(file.text);
  });
});
