/** The npx entry point on an older global Node: npm accepts it quietly, and bin/switchboard.js hands over to Node 24. */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/process.ts';

// A system Node older than 24, if this machine has one (CI images usually carry Node 20 at /usr/bin/node).
const OLD_NODE = ['/usr/bin/node', '/usr/local/bin/node'].find((path) => {
  if (!existsSync(path)) return false;
  const major = Number(execFileSync(path, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).trim());
  return major >= 20 && major < 24;
});

describe('the entry point', { timeout: 120_000 }, () => {
  it('declares the Node npm may start on, the same in package.json and the lockfile (npm checks both)', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
    expect(pkg.engines.node).toBe('>=20');
    expect(lock.packages[''].engines.node).toBe(pkg.engines.node);
    // The Node the sources run on is the bundled one.
    expect(pkg.devDependencies.node).toMatch(/^\^24\./);
  });

  it.skipIf(!OLD_NODE)('started by an older Node, runs the CLI on the bundled Node 24 with the same output and exit code', () => {
    const help = spawnSync(OLD_NODE!, [join(ROOT, 'bin', 'switchboard.js'), '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(help.stderr).toBe('');
    expect(help.stdout).toMatch(/^Usage: switchboard <verb>/);
    expect(help.status).toBe(0);
    const unknown = spawnSync(OLD_NODE!, [join(ROOT, 'bin', 'switchboard.js'), 'no-such-verb'], { cwd: ROOT, encoding: 'utf8' });
    expect(unknown.stderr).toMatch(/^Unknown verb "no-such-verb"/);
    expect(unknown.status).toBe(2);
  });

  it.skipIf(!OLD_NODE)("through npx on an older global Node prints no npm warning before Switchboard's own output", () => {
    const npx = join(OLD_NODE!, '..', 'npx');
    if (!existsSync(npx)) return;
    const run = spawnSync(npx, ['--no-install', 'switchboard', '--help'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { PATH: `${join(OLD_NODE!, '..')}:/bin`, HOME: process.env.HOME ?? '/tmp' },
    });
    expect(run.stderr).not.toContain('EBADENGINE');
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^Usage: switchboard <verb>/);
  });
});
