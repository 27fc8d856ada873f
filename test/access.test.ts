/**
 * The allowlist, roles and the hourly quota on Slack and GitHub, through signed requests and the fake platform
 * APIs: who is refused is told in place (or, a GitHub stranger, nothing), nothing is stored, and the metric counts it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeSlack } from '../channels/slack/index.ts';
import type { RawRequest } from '../src/ports.ts';
import { startFakeGithub, type FakeGithub } from './fakes/github-api.ts';
import { BOT_TOKEN, BOT_USER, commandRequest, eventRequest, SIGNING_SECRET, startFakeSlack, TEAM, type FakeSlack } from './fakes/slack-api.ts';
import { delivery, issueCommentEvent, pullRequestEvent, WEBHOOK_SECRET } from './fixtures/github/events.ts';
import { accessDenied } from './support/access.ts';
import { databaseKinds } from './support/databases.ts';
import { startTestSwitchboard, tableCounts, type TestSwitchboard } from './support/switchboard.ts';
import { pipelineIdle, waitFor } from './support/wait.ts';

let seq = 0;
const ts = () => `1700002000.${String(++seq).padStart(6, '0')}`;
const mention = (channel: string, user: string, text: string, extra: Record<string, unknown> = {}) => ({
  type: 'app_mention',
  user,
  text: `<@${BOT_USER}> ${text}`,
  ts: ts(),
  channel,
  ...extra,
});

describe.each(databaseKinds)('access on Slack and GitHub on %s', (kind) => {
  let sb: TestSwitchboard;
  let slack: FakeSlack;
  let github: FakeGithub;
  const denied = (channel: string, reason: string) => accessDenied(sb, channel, reason);
  const slackSend = (init: RequestInit) => sb.app.request('/slack/events', init);
  const gh = async (e: { event: string; payload: unknown }) => {
    const res = await sb.app.request('/github/webhook', await delivery(e));
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  beforeAll(async () => {
    slack = await startFakeSlack();
    github = await startFakeGithub();
    sb = await startTestSwitchboard(
      kind,
      {
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_API_URL: slack.apiUrl,
        SLACK_ACCESS: 'allowlist',
        SLACK_ALLOW: 'C0ALLOW01',
        SLACK_ADMINS: 'U0ADMIN01',
        GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
        GITHUB_TOKEN: 'ghp_test_token',
        GITHUB_API_URL: github.apiUrl,
        GITHUB_ADMINS: 'boss',
        QUOTA_PER_HOUR: '3',
        RATE_LIMIT_BURST: '1000',
      },
      { access: 'strict' },
    );
  });
  afterAll(async () => {
    await sb?.close();
    await slack?.close();
    await github?.close();
  });

  it('Slack allowlist: a slash command outside it gets the ephemeral refusal, a mention an ephemeral one, nothing stored', async () => {
    const before = await tableCounts(sb);
    const res = await slackSend(commandRequest({ text: 'help', channel_id: 'C0OTHER01', user_id: 'U0ALICE01', response_url: slack.responseUrl('r') }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, any>;
    expect(body.response_type).toBe('ephemeral');
    expect(body.text).toContain('npx switchboard access allow slack U0ALICE01');

    const event = await slackSend(eventRequest(mention('C0OTHER01', 'U0ALICE01', 'help'), 'EvAccess1'));
    expect(event.status).toBe(200);
    const ephemeral = slack.ok('chat.postEphemeral');
    expect(ephemeral).toHaveLength(1);
    expect(ephemeral[0]!.args).toMatchObject({ channel: 'C0OTHER01', user: 'U0ALICE01' });
    expect(slack.ok('chat.postMessage')).toHaveLength(0);
    expect(await tableCounts(sb)).toEqual(before);
    expect(await denied('slack', 'not_allowed')).toBe(2);
  });

  it('Slack allowlist: in an allowed channel anyone is answered, but `status` needs an admin', async () => {
    await slackSend(eventRequest(mention('C0ALLOW01', 'U0ALICE01', 'help'), 'EvAccess2'));
    await waitFor(
      () => slack.ok('chat.postMessage').filter((c) => c.args.channel === 'C0ALLOW01'),
      (c) => c.length > 0,
    );
    // The answer is stored once delivered: wait for that before counting rows.
    await waitFor(
      async () => (await sb.api('GET', '/api/executions?channel=slack&limit=1')).body.executions[0],
      (e) => e?.status === 'succeeded',
    );

    const before = await tableCounts(sb);
    const member = await slackSend(commandRequest({ text: 'status', channel_id: 'C0ALLOW01', user_id: 'U0ALICE01', response_url: slack.responseUrl('r') }));
    expect(((await member.json()) as any).text).toBe('Only an admin can use `status` here.');
    expect(await tableCounts(sb)).toEqual(before);
    expect(await denied('slack', 'role')).toBe(1);

    const admin = await slackSend(commandRequest({ text: 'status', channel_id: 'C0OTHER01', user_id: 'U0ADMIN01', response_url: slack.responseUrl('r') }));
    expect(((await admin.json()) as any).text).not.toMatch(/admin/);
    const row = await waitFor(
      async () => (await sb.api('GET', '/api/executions?channel=slack&agent=status&limit=1')).body.executions[0],
      (e) => e?.status === 'succeeded',
    );
    // The role the policy granted travels with the stored envelope, for the worker.
    const stored = await sb.opened.store.getExecution(row.id);
    expect(stored?.envelope.access).toEqual({ role: 'admin' });
  });

  it('Slack reports a Slack Connect guest as external, which the default workspace mode refuses', async () => {
    const body = JSON.stringify({
      type: 'event_callback',
      team_id: TEAM,
      event_id: 'EvGuest',
      event: { type: 'app_mention', user: 'U0GUEST01', user_team: 'T0ELSEWHERE', text: 'hi', ts: ts(), channel: 'C0SHARED1' },
      authorizations: [{ team_id: TEAM, user_id: BOT_USER, is_bot: true }],
    });
    const req: RawRequest = {
      body: new TextEncoder().encode(body),
      headers: new Headers({ 'content-type': 'application/json' }),
      url: '/slack/events',
      params: {},
    };
    const [envelope] = (await normalizeSlack(req, { now: () => new Date(), identity: async () => ({}) })) as any[];
    expect(envelope.facts).toEqual({ person: 'U0GUEST01', places: [TEAM, 'C0SHARED1'], external: true });
  });

  it('GitHub: 40 parallel `/ask` comments from a non-collaborator are all refused, silently, storing nothing', async () => {
    const before = await tableCounts(sb);
    const comments = github.comments.length;
    const results = await Promise.all(
      Array.from({ length: 40 }, () => gh(issueCommentEvent({ number: 5, body: '/ask spend your budget', sender: 'mallory', association: 'NONE' }))),
    );
    expect(results.every((r) => r.status === 200 && r.body.refused === 'not_member')).toBe(true);
    await pipelineIdle(sb);
    expect(await tableCounts(sb)).toEqual(before);
    expect(github.comments.length).toBe(comments);
    expect(await denied('github', 'not_member')).toBe(40);
  });

  it('GitHub: a pull request by anyone is reviewed automatically; an allowed login may comment commands', async () => {
    const opened = await gh(pullRequestEvent('opened', { number: 9, head: 'h9', base: 'b9', sender: 'outsider' }));
    expect(opened.status).toBe(202);

    expect((await sb.api('POST', '/api/access', { channel: 'github', subject: 'Friend' })).status).toBe(201);
    const allowed = await gh(issueCommentEvent({ number: 9, body: '/help', sender: 'friend', association: 'CONTRIBUTOR' }));
    expect(allowed.status).toBe(202);
  });

  it('GitHub: `/status` needs an admin; a collaborator is told so in a comment', async () => {
    await pipelineIdle(sb); // the earlier tests' answers are stored before counting what this refusal stores
    const before = await tableCounts(sb);
    const member = await gh(issueCommentEvent({ number: 11, body: '/status', sender: 'dev2', association: 'COLLABORATOR' }));
    expect(member.body.refused).toBe('role');
    expect(github.comments.filter((c: { pr: number; body: string }) => c.pr === 11).map((c) => c.body)).toEqual(['@dev2 Only an admin can use `status` here.']);
    expect(await tableCounts(sb)).toEqual(before);
    const admin = await gh(issueCommentEvent({ number: 11, body: '/status', sender: 'boss', association: 'MEMBER' }));
    expect(admin.status).toBe(202);
  });

  it('GitHub: 40 parallel `/ask` from one collaborator run 3 (QUOTA_PER_HOUR) and the rest are told when the quota resets', async () => {
    const before = await tableCounts(sb);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => gh(issueCommentEvent({ number: 12, body: `/ask question ${i}`, sender: 'dev1', association: 'COLLABORATOR' }))),
    );
    expect(results.filter((r) => r.status === 202)).toHaveLength(3);
    expect(results.filter((r) => r.body.refused === 'quota')).toHaveLength(37);
    expect((await tableCounts(sb)).executions).toBe(before.executions + 3);
    const notices = github.comments.filter((c: { pr: number; body: string }) => c.pr === 12 && c.body.includes('limit of 3 requests per hour'));
    expect(notices).toHaveLength(37);
    expect(notices[0]!.body).toMatch(/ask again at \d\d:\d\d UTC \(in (59|60) minutes\)/);
    expect(await denied('github', 'quota')).toBe(37);
  });
});
