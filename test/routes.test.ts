import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventMatches } from '../db/index.ts';
import { databaseKinds } from './support/databases.ts';
import { startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';

describe('routing rule event patterns', () => {
  it('matches exact types, prefixes with *, and everything without a pattern', () => {
    expect(eventMatches(null, undefined)).toBe(true);
    expect(eventMatches('*', 'anything')).toBe(true);
    expect(eventMatches('build.failed', 'build.failed')).toBe(true);
    expect(eventMatches('build.failed', 'build.passed')).toBe(false);
    expect(eventMatches('build.*', 'build.passed')).toBe(true);
    expect(eventMatches('build.*', 'deploy.failed')).toBe(false);
    expect(eventMatches('build.failed', undefined)).toBe(false);
  });
});

describe.each(databaseKinds)('routing rules API on %s', (kind) => {
  let sb: TestSwitchboard;
  beforeAll(async () => {
    sb = await startTestSwitchboard(kind);
  });
  afterAll(async () => sb?.close());

  it('validates rules and says what is wrong', async () => {
    const bad = [
      [{ source: 'ci', agent: 'nobody', destination: { channel: 'web', target: 'x' } }, 'unknown_agent'],
      [{ source: 'bad source', agent: 'ask', destination: { channel: 'web', target: 'x' } }, 'invalid_request'],
      [{ source: 'ci', agent: 'ask', destination: { channel: 'web', target: 'x' } }, 'invalid_destination'],
      [{ source: 'ci', agent: 'ask' }, 'invalid_request'],
    ] as const;
    for (const [body, code] of bad) {
      const res = await sb.api('POST', '/api/routes', body);
      expect({ status: res.status, code: res.body.error.code }).toEqual({ status: 400, code });
    }
    expect((await sb.api('GET', '/api/routes')).body.routes).toEqual([]);
    expect((await sb.api('DELETE', '/api/routes/00000000-0000-0000-0000-000000000000')).status).toBe(404);
  });
});
