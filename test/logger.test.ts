/** What a real log line contains: the logger as the server builds it, writing to a stdout the test reads. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';
import { createRedactor, type Redactor } from '../src/redact.ts';

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

/** Lines written by `createLogger` in this process (where `npm run mutate` can change it), read back as JSON. */
function capture(level: string, bindings?: Record<string, unknown>, redactor?: Redactor) {
  const lines: Record<string, any>[] = [];
  const destination = { write: (line: string) => void lines.push(JSON.parse(line)) };
  const logger = createLogger(level, bindings, { destination, ...(redactor ? { redactor } : {}) });
  return { logger, lines };
}

describe('the logger, in this process', () => {
  const SECRET = 'sb-admin-0123456789abcdef';

  it('writes lines at its level and above to the destination, with the service and its bindings', () => {
    const { logger, lines } = capture('warn', { instance: 'w1' });
    logger.info('not written');
    logger.warn({ executionId: 'e1' }, 'written');
    expect(lines).toEqual([expect.objectContaining({ level: 40, msg: 'written', service: 'switchboard', instance: 'w1', executionId: 'e1' })]);
    const plain = capture('info');
    plain.logger.info('hello');
    expect(plain.lines).toEqual([expect.objectContaining({ level: 30, msg: 'hello', service: 'switchboard' })]);
  });

  it('passes the message, fields at any depth, errors and the bindings of a child through the redactor', () => {
    const redactor = createRedactor({ ADMIN_TOKEN: SECRET });
    const { logger, lines } = capture('info', { url: `http://x/?t=${SECRET}` }, redactor);
    logger.info({ deep: { deeper: { value: `key ${SECRET}` } } }, `message with ${SECRET}`);
    (logger.child({ attempt: SECRET }) as typeof logger).child({ nested: SECRET }).error(new Error(`failed with ${SECRET}`));
    expect(lines).toHaveLength(2);
    expect(JSON.stringify(lines)).not.toContain(SECRET);
    expect(lines[0]).toMatchObject({
      msg: 'message with [redacted:ADMIN_TOKEN]',
      deep: { deeper: { value: 'key [redacted:ADMIN_TOKEN]' } },
      url: 'http://x/?t=[redacted:ADMIN_TOKEN]',
    });
    expect(lines[1]).toMatchObject({
      attempt: '[redacted:ADMIN_TOKEN]',
      nested: '[redacted:ADMIN_TOKEN]',
      err: { message: 'failed with [redacted:ADMIN_TOKEN]' },
    });
  });

  it('without a redactor still hides tokens, secrets and authorization one level down, and nothing else', () => {
    const { logger, lines } = capture('info');
    logger.info({ a: { token: 't', secret: 's', authorization: 'z', team: 'T1' } }, 'hi');
    logger.child({ executionId: 'e1' }).info('from a child');
    expect(lines[0]).toMatchObject({ a: { token: '[Redacted]', secret: '[Redacted]', authorization: '[Redacted]', team: 'T1' } });
    expect(lines[1]).toMatchObject({ executionId: 'e1', msg: 'from a child' });
  });
});
