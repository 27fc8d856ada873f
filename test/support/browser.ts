/**
 * Headless Chromium for the console's browser tests: Debian's `chromium` package driven by playwright-core. When it is
 * missing the setup installs it (as root, with apt-get); when that is not possible the tests are skipped and say why.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Quiet, reproducible, offline: no GPU, no QUIC, no background traffic to Google, no first-run pages. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where screenshots go: git-ignored test artifacts. */
export const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-results', 'console');

function aptInstall(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root, so apt-get cannot install it';
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (...args: string[]) => execFileSync('apt-get', args, { stdio: 'ignore', env, timeout: 15 * 60_000 });
  try {
    try {
      apt('install', '-y', '-qq', 'chromium');
    } catch {
      apt('update', '-qq'); // a fresh image has no package lists yet
      apt('install', '-y', '-qq', 'chromium');
    }
  } catch (err) {
    return `apt-get install -y chromium failed (${(err as Error).message.split('\n')[0]})`;
  }
  return existsSync(CHROMIUM) ? undefined : `apt-get installed chromium, but ${CHROMIUM} is still missing`;
}

/** Chromium's path, installing it first when needed; or why the browser tests cannot run here. */
export function findChromium(): { path: string } | { skip: string } {
  if (existsSync(CHROMIUM)) return { path: CHROMIUM };
  const why = aptInstall();
  if (!why) return { path: CHROMIUM };
  return { skip: `browser tests skipped: ${CHROMIUM} is missing and ${why}; install Debian's chromium package to run them` };
}

/** A fresh browser profile (its own user-data-dir, removed on close). */
export async function launchBrowser(executablePath: string): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'sb-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 860 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
