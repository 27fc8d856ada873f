/**
 * Tenant isolation: what an outsider in one workspace, chat or pull request can see of and do to another's. `status`
 * shows a member only their own tenant; a vote counts only in the conversation of the answer it rates (or from an
 * admin), whatever execution id a forged button or a copied GitHub marker names.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../db/rows.ts';
import type { IngestResult, OverQuota } from '../db/index.ts';
import { askAgent } from '../src/agents/ask.ts';
import { createAgents } from '../src/agents/index.ts';
import type { Agent } from '../src/ports.ts';
import type { Envelope } from '../src/types.ts';
import { startFakeGithub, SELF, type FakeGithub } from './fakes/github-api.ts';
import {
  BOT_TOKEN as SLACK_BOT_TOKEN,
  BOT_USER,
  clickPayload,
  clickRequest,
  eventRequest,
  SIGNING_SECRET,
  startFakeSlack,
  TEAM,
  type FakeSlack,
} from './fakes/slack-api.ts';
import {
  ALICE,
  BOB,
  BOT_TOKEN as TELEGRAM_BOT_TOKEN,
  callbackUpdate,
  messageUpdate,
  startFakeTelegram,
  telegramRequest,
  WEBHOOK_SECRET as TELEGRAM_SECRET,
  type FakeTelegram,
} from './fakes/telegram-api.ts';
import { delivery, issueCommentEvent, REPO, WEBHOOK_SECRET as GITHUB_SECRET } from './fixtures/github/events.ts';
import { databaseKinds } from './support/databases.ts';
import { signedHook, startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';
import { waitFor } from './support/wait.ts';

// What tenant A's failure says: nobody outside tenant A may read it, and nobody in a chat reads all of it.
const DETAIL = `database password rejected for tenant A; ${'context '.repeat(60)}END-OF-DETAIL`;
const agents: Agent[] = createAgents().map((agent) =>
  agent.name === 'ask'
    ? {
        ...askAgent,
        async run(ctx) {
          if (ctx.envelope.text.startsWith('BOOM')) throw new Error(DETAIL);
          return askAgent.run(ctx);
        },
      }
    : agent,
);

const OTHER_TEAM = 'T0OTHER01';
let seq = 0;
const ts = () => `1700002000.${String(++seq).padStart(6, '0')}`;

describe.each(databaseKinds)('tenant isolation on %s', (kind) => {
  let sb: TestSwitchboard;
  let telegram: FakeTelegram;
  let slack: FakeSlack;
  let github: FakeGithub;
  const chatA = { id: ALICE.id + 900_000, type: 'private' as const, first_name: ALICE.first_name };
  const chatB = { id: BOB.id + 900_000, type: 'private' as const, first_name: BOB.first_name };
  const tg = (update: unknown) => sb.app.request('/telegram/webhook', telegramRequest(update));
  const sentTo = (chatId: number) => telegram.ok('sendMessage').filter((c) => c.args.chat_id === chatId);
  const latest = async (where: string) => (await sb.api('GET', `/api/executions?${where}&limit=1`)).body.executions[0];
  const finished = (where: string) =>
    waitFor(
      () => latest(where),
      (e) => e?.status === 'succeeded' || e?.status === 'dead',
    );
  const votesOn = async (executionId: string) =>
    rowsOf<{ user_id: string; score: number }>(
      await sb.opened.handle.db.execute(sql`select user_id, score from feedback where execution_id = ${executionId} order by user_id`),
    );

  let failedInA: { id: string };
  let answeredInA: { id: string };

  beforeAll(async () => {
    [telegram, slack, github] = await Promise.all([startFakeTelegram(), startFakeSlack(), startFakeGithub()]);
    sb = await startTestSwitchboard(
      kind,
      {
        TELEGRAM_BOT_TOKEN,
        TELEGRAM_WEBHOOK_SECRET: TELEGRAM_SECRET,
        TELEGRAM_API_ROOT: telegram.apiRoot,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_BOT_TOKEN,
        SLACK_API_URL: slack.apiUrl,
        GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
        GITHUB_TOKEN: 'ghp_test_token',
        GITHUB_API_URL: github.apiUrl,
        MAX_ATTEMPTS: '1',
        RATE_LIMIT_BURST: '1000',
      },
      { agents },
    );
    // Tenant A (Alice's chat): one answer, and one failure whose error text is A's business only.
    await tg(messageUpdate('how do we deploy?', { chat: chatA, from: ALICE }));
    answeredInA = await finished('channel=telegram&agent=ask&status=succeeded');
    await tg(messageUpdate('BOOM please', { chat: chatA, from: ALICE }));
    failedInA = await finished('channel=telegram&agent=ask&status=dead');
  });
  afterAll(async () => {
    await sb?.close();
    await Promise.all([telegram?.close(), slack?.close(), github?.close()]);
  });

  it("a member's status in tenant B shows none of tenant A's failures, ids or error text", async () => {
    await tg(messageUpdate('/status', { chat: chatB, from: BOB }));
    const [reply] = await waitFor(
      () => sentTo(chatB.id),
      (s) => s.length > 0,
    );
    const text = reply!.visible!;
    expect(text).toContain(`Recent failures in ${chatB.id}: none`);
    expect(text).toMatch(new RegExp(`Executions in the last hour in ${chatB.id}: `));
    expect(text).not.toContain(failedInA.id);
    expect(text).not.toContain(answeredInA.id);
    expect(text).not.toContain('database password');
  });

  it('a member sees their own failures, with the error text cut short', async () => {
    await tg(messageUpdate('/status', { chat: chatA, from: ALICE }));
    const reply = await waitFor(
      () => sentTo(chatA.id).find((m) => m.visible?.startsWith('Switchboard status')),
      (m) => m !== undefined,
    );
    const text = reply!.visible!;
    expect(text).toContain(`Recent failures in ${chatA.id}:`);
    expect(text).toContain(failedInA.id);
    expect(text).toContain('database password rejected for tenant A');
    expect(text).not.toContain('END-OF-DETAIL');
  });

  it('an admin sees every tenant: through the web API, and on a chat channel when the access policy says admin', async () => {
    const web = await sb.api('POST', '/api/messages?wait=1', { text: 'status', user_id: 'operator' });
    expect(web.body.reply.text).toContain(failedInA.id);
    expect(web.body.reply.text).toMatch(/^Executions in the last hour: /m);

    // Stamped admin at ingest (as `<CHANNEL>_ADMINS` will), Bob's status in his own chat covers tenant A too.
    const envelope: Envelope = {
      channel: 'telegram',
      deliveryId: `admin-status-${kind}`,
      tenantId: String(chatB.id),
      conversationKey: String(chatB.id),
      userId: String(BOB.id),
      text: '/status',
      replyRef: { kind: 'message', chatId: chatB.id, messageId: 1 },
      receivedAt: new Date().toISOString(),
      access: { role: 'admin' },
    };
    const before = sentTo(chatB.id).length;
    const { executionId } = stored(await sb.opened.store.ingest(envelope, [{ agent: 'status', intent: { name: 'status', args: {} } }]));
    sb.opened.store.queue.wake();
    await sb.waiter.wait(executionId, 30_000);
    const text = sentTo(chatB.id)
      .slice(before)
      .map((m) => m.visible)
      .join('\n');
    expect(text).toContain(failedInA.id);
  });

  it("a forged Telegram button in tenant B naming tenant A's answer stores no feedback and says why", async () => {
    const [own] = sentTo(chatB.id);
    const forged = callbackUpdate(`fb:${answeredInA.id}:+1`, own!.result as any, BOB);
    expect((await tg(forged)).status).toBe(200);
    const [alert] = await waitFor(
      () => telegram.ok('answerCallbackQuery').filter((c) => c.args.callback_query_id === forged.callback_query.id),
      (a) => a.length > 0,
    );
    expect(alert!.args).toMatchObject({ show_alert: true, text: expect.stringMatching(/not from this conversation/) });
    expect(await votesOn(answeredInA.id)).toEqual([]);

    // The same press in tenant A's own chat counts.
    const [answer] = sentTo(chatA.id);
    const real = callbackUpdate(`fb:${answeredInA.id}:+1`, answer!.result as any, ALICE);
    await tg(real);
    await waitFor(
      () => votesOn(answeredInA.id),
      (v) => v.length > 0,
    );
    expect(await votesOn(answeredInA.id)).toEqual([{ user_id: String(ALICE.id), score: 1 }]);
  });

  it('a vote on a routed answer counts in the chat the routing rule posted it to, and nowhere else', async () => {
    const chatC = { id: -100_900_000_003, type: 'supergroup' as const, title: 'Deploys' };
    const route = await sb.api('POST', '/api/routes', { source: 'ci', agent: 'ask', destination: { channel: 'telegram', target: String(chatC.id) } });
    expect(route.status).toBe(201);
    expect((await sb.app.request('/hooks/ci', signedHook({ type: 'build.failed', text: 'why did the build fail?' }))).status).toBeLessThan(300);
    const [posted] = await waitFor(
      () => sentTo(chatC.id).filter((m) => m.args.reply_markup),
      (s) => s.length > 0,
    );
    const [up] = posted!.args.reply_markup.inline_keyboard[0];
    const routedId = /^fb:(.+):\+1$/.exec(up.callback_data)![1]!;
    await sb.api('DELETE', `/api/routes/${route.body.id}`);

    const [own] = sentTo(chatB.id);
    const forged = callbackUpdate(up.callback_data, own!.result as any, BOB);
    await tg(forged);
    await waitFor(
      () => telegram.ok('answerCallbackQuery').filter((c) => c.args.callback_query_id === forged.callback_query.id),
      (a) => a.length > 0,
    );
    expect(await votesOn(routedId)).toEqual([]);

    await tg(callbackUpdate(up.callback_data, posted!.result as any, BOB));
    await waitFor(
      () => votesOn(routedId),
      (v) => v.length > 0,
    );
    expect(await votesOn(routedId)).toEqual([{ user_id: String(BOB.id), score: 1 }]);
  });

  it("Slack: a button payload from another workspace, or from another channel of the same one, cannot rate an answer; the thread's own can", async () => {
    const mention = { type: 'app_mention', user: 'U0ALICE01', text: `<@${BOT_USER}> where are the runbooks?`, ts: ts(), channel: 'C0TENA001' };
    await sb.app.request('/slack/events', eventRequest(mention, `Ev${mention.ts}`));
    const answer = await finished('channel=slack&agent=ask');
    expect(answer.status).toBe('succeeded');

    const forged = clickPayload({
      executionId: answer.id,
      score: 1,
      ts: ts(),
      channel: 'C0TENB001',
      user: 'U0MALLORY',
      responseUrl: slack.responseUrl('forged-team'),
    });
    forged.team = { id: OTHER_TEAM, domain: 'other' };
    forged.user.team_id = OTHER_TEAM;
    await sb.app.request('/slack/events', clickRequest(forged));
    const elsewhere = clickPayload({
      executionId: answer.id,
      score: -1,
      ts: ts(),
      channel: 'C0OTHER01',
      user: 'U0CAROL01',
      responseUrl: slack.responseUrl('forged-channel'),
    });
    await sb.app.request('/slack/events', clickRequest(elsewhere));
    for (const id of ['forged-team', 'forged-channel']) {
      const response = await waitFor(
        () => slack.responses.find((r) => r.id === id),
        (r) => r !== undefined,
      );
      expect(response!.body).toMatchObject({ response_type: 'ephemeral', text: expect.stringMatching(/not from this conversation/) });
    }
    expect(await votesOn(answer.id)).toEqual([]);

    const here = clickPayload({
      executionId: answer.id,
      score: 1,
      ts: ts(),
      channel: 'C0TENA001',
      threadTs: mention.ts,
      responseUrl: slack.responseUrl('here'),
    });
    await sb.app.request('/slack/events', clickRequest(here));
    await waitFor(
      () => votesOn(answer.id),
      (v) => v.length > 0,
    );
    expect(await votesOn(answer.id)).toEqual([{ user_id: 'U0ALICE01', score: 1 }]);
    expect(TEAM).not.toBe(OTHER_TEAM);
  });

  it("GitHub: 👍 on a comment by anyone but the app, carrying the app's execution marker, stores nothing; on the app's own comment it counts", async () => {
    github.setPull(REPO.full_name, { number: 1, base: 'b1', head: 'h1' });
    const ask = async (body: string) => {
      const res = await sb.app.request('/github/webhook', await delivery(issueCommentEvent({ number: 1, body })));
      expect(res.status).toBe(202);
      const { executions } = (await res.json()) as { executions: { id: string }[] };
      return sb.waiter.wait(executions[0]!.id, 30_000);
    };
    const first = (await ask('/ask what does this change?'))!;
    const second = (await ask('/ask and the tests?'))!;
    const ours = github.comments.filter((c) => c.pr === 1 && c.kind === 'issue' && c.login === SELF);
    const rated = ours.find((c) => c.body.includes(first.id))!;
    // Mallory copies the marker of the app's second answer into a comment of her own and gets it 👍'd.
    const copy = github.addComment({
      repo: REPO.full_name,
      pr: 1,
      kind: 'issue',
      login: 'mallory',
      body: `great answer!\n<!-- switchboard:execution=${second.id} -->`,
    });
    github.react('issue_comment', copy.id, '+1', 'dave');
    github.react('issue_comment', rated.id, '+1', 'carol');
    // GitHub sends no event for reactions: they are collected the next time the pull request is worked on.
    expect(await ask('/summarize')).toMatchObject({ status: 'succeeded' });

    expect(await votesOn(second.id)).toEqual([]);
    expect(await votesOn(first.id)).toEqual([{ user_id: 'carol', score: 1 }]);
    expect(github.requests.filter((r) => r.path === '/user')).toHaveLength(1); // the app's own login is asked once
  });

  it('POST /api/feedback still rates any execution for the admin-token holder', async () => {
    const res = await sb.api('POST', '/api/feedback', { execution_id: failedInA.id, score: -1, user_id: 'operator' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ execution_id: failedInA.id, user_id: 'operator', score: -1 });
    expect(await votesOn(failedInA.id)).toEqual([{ user_id: 'operator', score: -1 }]);
    const missing = await sb.api('POST', '/api/feedback', { execution_id: '00000000-0000-4000-8000-000000000000', score: 1, user_id: 'operator' });
    expect(missing.status).toBe(404);
  });

  it("two tenants whose conversation keys meet get separate conversations, so neither reads the other's history", async () => {
    const base = { channel: 'hooks' as const, conversationKey: `shared-key-${kind}`, userId: 'u', text: 'help', receivedAt: new Date().toISOString() };
    const help = [{ agent: 'help', intent: { name: 'help' as const, args: {} } }];
    const a = stored(await sb.opened.store.ingest({ ...base, deliveryId: `a-${kind}`, tenantId: 'hook:a' }, help));
    const b = stored(await sb.opened.store.ingest({ ...base, deliveryId: `b-${kind}`, tenantId: 'hook:b' }, help));
    const again = stored(await sb.opened.store.ingest({ ...base, deliveryId: `b2-${kind}`, tenantId: 'hook:b' }, help));
    expect(b.conversationId).not.toBe(a.conversationId);
    expect(again.conversationId).toBe(b.conversationId);
    const rows = rowsOf<{ tenant_id: string }>(
      await sb.opened.handle.db.execute(sql`select tenant_id from conversations where id in (${a.conversationId}, ${b.conversationId}) order by tenant_id`),
    );
    expect(rows.map((r) => r.tenant_id)).toEqual(['hook:a', 'hook:b']);
  });
});

/** An ingest that stored its envelope (these tests run with no quota). */
function stored(result: IngestResult | OverQuota): IngestResult {
  if ('overQuota' in result) throw new Error('unexpectedly over quota');
  return result;
}
