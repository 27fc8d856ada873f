/** What a real log line contains: the logger as the server builds it, writing to a stdout the test reads. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const LOGGER = fileURLToPath(new URL('../src/logger.ts', import.meta.url));

/** Runs `body` in a fresh Node with `logger = createLogger('info')` and returns the JSON lines it wrote to stdout. */
function logLines(body: string): Record<string, any>[] {
  const script = `import { createLogger } from ${JSON.stringify(LOGGER)};\nconst logger = createLogger('info');\n${body}`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  expect(run.status, run.stderr).toBe(0);
  return run.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
}

describe('the logger', () => {
  it('redacts tokens, secrets and authorization headers nested one level down, keeping the rest of the line', () => {
    const [line] = logLines(
      `logger.warn({ slack: { token: 'xoxb-123-abc', team: 'T1' }, hook: { secret: 'whsec_abc' }, headers: { authorization: 'Bearer admin-xyz' } }, 'platform refused');`,
    );
    const text = JSON.stringify(line);
    for (const secret of ['xoxb-123-abc', 'whsec_abc', 'admin-xyz']) expect(text).not.toContain(secret);
    expect(line).toMatchObject({
      level: 40,
      msg: 'platform refused',
      service: 'switchboard',
      slack: { token: '[Redacted]', team: 'T1' },
      hook: { secret: '[Redacted]' },
      headers: { authorization: '[Redacted]' },
    });
  });

  it('redacts in child loggers too, which the worker logs through', () => {
    const [line] = logLines(`logger.child({ executionId: 'e1' }).error({ request: { authorization: 'Basic c2VjcmV0' } }, 'failed');`);
    expect(line).toMatchObject({ executionId: 'e1', request: { authorization: '[Redacted]' } });
  });
});
