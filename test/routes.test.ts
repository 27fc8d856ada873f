/** Webhook-to-chat routing rules: their patterns, the /api/routes API, delivery to a fake Slack, and the `routes` CLI verb. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventMatches } from '../db/index.ts';
import { BOT_TOKEN, SIGNING_SECRET, startFakeSlack, type FakeSlack } from './fakes/slack-api.ts';
import { databaseKinds } from './support/databases.ts';
import { runCliInProcess } from './support/cli.ts';
import { signedHook, startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';
import { waitFor } from './support/wait.ts';

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

describe.each(databaseKinds)('routing webhook events to Slack on %s', (kind) => {
  let sb: TestSwitchboard;
  let fake: FakeSlack;
  const postsTo = (channel: string) => fake.ok('chat.postMessage').filter((c) => c.args.channel === channel);
  const addRoute = async (rule: Record<string, unknown>) => {
    const res = await sb.api('POST', '/api/routes', rule);
    expect(res.status).toBe(201);
    return res.body as { id: string };
  };
  const hook = async (payload: Record<string, unknown>) => {
    const res = await sb.app.request('/hooks/ci', signedHook(payload));
    expect(res.status).toBeLessThan(300);
    return ((await res.json()) as { executions: { id: string }[] }).executions.map((e) => e.id);
  };
  const finished = (id: string) =>
    waitFor(
      () => sb.api('GET', `/api/executions/${id}`).then((r) => r.body),
      (e) => ['succeeded', 'dead'].includes(e?.status),
    );

  beforeAll(async () => {
    fake = await startFakeSlack();
    sb = await startTestSwitchboard(kind, { SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: fake.apiUrl });
  });
  afterAll(async () => {
    await sb?.close();
    await fake?.close();
  });
  afterEach(async () => {
    for (const r of (await sb.api('GET', '/api/routes')).body.routes) await sb.api('DELETE', `/api/routes/${r.id}`);
  });

  it('creates, lists and deletes a rule through /api/routes', async () => {
    const rule = { source: 'CI', event: 'build.*', agent: 'summarize', destination: { channel: 'slack', target: 'C0LIFE001' } };
    const created = await addRoute(rule);
    expect(created).toMatchObject({
      id: expect.any(String),
      source: 'ci',
      event: 'build.*',
      agent: 'summarize',
      destination: { channel: 'slack', target: 'C0LIFE001' },
    });
    expect((await sb.api('GET', '/api/routes')).body.routes).toEqual([expect.objectContaining({ id: created.id, source: 'ci', event: 'build.*' })]);
    expect((await sb.api('DELETE', `/api/routes/${created.id}`)).status).toBe(204);
    expect((await sb.api('GET', '/api/routes')).body.routes).toEqual([]);
    expect((await sb.api('DELETE', `/api/routes/${created.id}`)).status).toBe(404);
  });

  it('an exact event pattern and a prefix pattern deliver only the events they match', async () => {
    await addRoute({ source: 'ci', event: 'build.*', agent: 'status', destination: { channel: 'slack', target: 'C0PREFIX1' } });
    await addRoute({ source: 'ci', event: 'deploy.finished', agent: 'status', destination: { channel: 'slack', target: 'C0EXACT01' } });

    const [build] = await hook({ type: 'build.failed', text: 'nightly failed' });
    await finished(build!);
    expect(postsTo('C0PREFIX1')).toHaveLength(1);
    expect(postsTo('C0PREFIX1')[0]!.args.text).toMatch(/queue/i);

    const [started] = await hook({ type: 'deploy.started', text: 'deploying' }); // matches neither: runs ask, posts nowhere
    await finished(started!);
    expect(postsTo('C0EXACT01')).toEqual([]);

    const [deployed] = await hook({ type: 'deploy.finished', text: 'deployed' });
    await finished(deployed!);
    expect(postsTo('C0EXACT01')).toHaveLength(1);
    expect(postsTo('C0PREFIX1')).toHaveLength(1);
  });

  it('every rule an event matches gets its own execution and its own post', async () => {
    await addRoute({ source: 'ci', agent: 'status', destination: { channel: 'slack', target: 'C0FANOUT1' } });
    await addRoute({ source: 'ci', event: 'release.*', agent: 'help', destination: { channel: 'slack', target: 'C0FANOUT2' } });
    // The answer names every execution the event made, and they share its stored message.
    const ids = await hook({ type: 'release.published', text: 'v2.0.0 is out' });
    expect(ids).toHaveLength(2);
    const { message_id } = (await sb.api('GET', `/api/executions/${ids[0]}`)).body;
    expect((await sb.api('GET', `/api/executions/${ids[1]}`)).body.message_id).toBe(message_id);
    expect(new Set(ids).size).toBe(2);
    const executions = await Promise.all(ids.map(finished));
    expect(executions.map((e) => [e.agent, e.status]).sort()).toEqual([
      ['help', 'succeeded'],
      ['status', 'succeeded'],
    ]);
    expect(postsTo('C0FANOUT1')).toHaveLength(1);
    expect(postsTo('C0FANOUT2')).toHaveLength(1);
    expect(postsTo('C0FANOUT2')[0]!.args.text).toMatch(/summarize/); // help's answer went to help's rule
  });

  it('a routed summarize reads the event that fired it, then each later event as well', async () => {
    await addRoute({ source: 'ci', event: 'build.*', agent: 'summarize', destination: { channel: 'slack', target: 'C0SUMMARY' } });
    const [first] = await hook({ type: 'build.failed', text: 'The billing tests failed on main after the currency change.', conversation_id: 'builds' });
    await finished(first!);
    const [firstPost] = postsTo('C0SUMMARY');
    expect(firstPost!.args.text).not.toMatch(/nothing to summarize/);
    expect(firstPost!.args.text).toContain('billing tests failed');

    const [second] = await hook({ type: 'build.failed', text: 'The staging deploy timed out waiting for the schema migration.', conversation_id: 'builds' });
    await finished(second!);
    // The offline summary counts what it read: both events (and the first summary), not the first event alone.
    expect(postsTo('C0SUMMARY')[1]!.args.text).toMatch(/2 from 1 participant/);
  });
});

describe('the routes CLI verb', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-routes-cli-'));
  const env = { DATA_DIR: dir, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: 'http://127.0.0.1:9/api/' };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cli = (args: string[]) => runCliInProcess(args, env);

  it('adds, lists and deletes rules through the CLI', async () => {
    const added = await cli(['routes', 'add', 'ci', 'summarize', 'slack:C0CLI0001', '--event', 'build.*']);
    expect(added.code, added.output).toBe(0);
    const id = /added route ([0-9a-f-]{36})/.exec(added.output)?.[1];
    expect(id, added.output).toBeDefined();
    const listed = await cli(['routes', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.output).toContain(`${id}  ci [build.*] → summarize → slack:C0CLI0001`);
    const deleted = await cli(['routes', 'delete', id!]);
    expect({ code: deleted.code, out: deleted.output.includes(`deleted route ${id}`) }).toEqual({ code: 0, out: true });
    expect((await cli(['routes'])).output).toContain('no routes');
  });
});
