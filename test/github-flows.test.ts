/**
 * More GitHub flows end to end, signed deliveries in and the real Octokit out to the fake GitHub: every review
 * action, drafts when configured, ranges, the PR as context for /ask and /summarize, routed replies, concurrent
 * executions on one pull request, huge pull requests within GitHub's body limit, rate limits, and restarts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { startSwitchboard } from '../src/server.ts';
import { startFakeGithub, type FakeFile, type FakeGithub } from './fakes/github-api.ts';
import { addedPatch, delivery, issueCommentEvent, pullRequestEvent, REPO, reviewCommentEvent, WEBHOOK_SECRET } from './fixtures/github/events.ts';
import { databaseKinds } from './support/databases.ts';
import { ADMIN_TOKEN, signedHook, startTestSwitchboard, tableCounts, type TestSwitchboard } from './support/switchboard.ts';

const UUID = /switchboard:execution=([0-9a-f-]{36})/;
const PAY_LINES = ['export function pay(amount: number) {', "  console.debug('paying', amount);", '  // TODO: currencies', '  return amount;', '}'];
const pay = (): FakeFile[] => [{ filename: 'src/pay.ts', status: 'added', patch: addedPatch(PAY_LINES) }];

function env(fake: FakeGithub, extra: Record<string, string> = {}) {
  return { GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET, GITHUB_TOKEN: 'ghp_test_token', GITHUB_API_URL: fake.apiUrl, RATE_LIMIT_BURST: '1000', ...extra };
}

async function until<T>(read: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(value)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function client(sb: { app: TestSwitchboard['app']; waiter: TestSwitchboard['waiter'] }) {
  async function send(e: { event: string; payload: unknown }, opts: { id?: string } = {}) {
    const res = await sb.app.request('/github/webhook', await delivery(e, opts));
    return { status: res.status, body: (await res.json()) as any };
  }
  /** Sends a delivery and waits until every execution it created succeeded (replies included). */
  async function handled(e: { event: string; payload: unknown }) {
    const sent = await send(e);
    expect(sent.status).toBe(202);
    const rows = await Promise.all(sent.body.executions.map((x: { id: string }) => sb.waiter.wait(x.id, 45_000)));
    for (const row of rows) expect(row).toMatchObject({ status: 'succeeded' });
    return rows.map((r) => r!);
  }
  return { send, handled };
}

describe.each(databaseKinds)('GitHub review flows on %s', (kind) => {
  let fake: FakeGithub;
  let sb: TestSwitchboard;
  let send: ReturnType<typeof client>['send'];
  let handled: ReturnType<typeof client>['handled'];
  beforeAll(async () => {
    fake = await startFakeGithub();
    sb = await startTestSwitchboard(kind, env(fake));
    ({ send, handled } = client(sb));
  });
  afterAll(async () => {
    await sb?.close();
    await fake?.close();
  });
  const reviewsOn = (pr: number) => fake.reviews.filter((r) => r.repo === REPO.full_name && r.pr === pr);

  it('reviews a reopened pull request and one marked ready for review, in full, on their head commits', async () => {
    for (const [pr, action] of [
      [40, 'reopened'],
      [41, 'ready_for_review'],
    ] as const) {
      fake.setPull(REPO.full_name, { number: pr, base: `b${pr}`, head: `h${pr}` });
      fake.setDiff(REPO.full_name, `b${pr}...h${pr}`, pay());
      const [execution] = await handled(pullRequestEvent(action, { number: pr, base: `b${pr}`, head: `h${pr}` }));
      const [review] = reviewsOn(pr);
      expect(review).toMatchObject({ commit_id: `h${pr}`, event: 'COMMENT' });
      expect(review!.comments.map((c) => `${c.path}:${c.line}`)).toEqual(['src/pay.ts:2', 'src/pay.ts:3']);
      expect(review!.body).toContain('**Coverage:** 1 of 1 changed file reviewed');
      expect(UUID.exec(review!.body)?.[1]).toBe(execution!.id);
    }
  });

  it('posts a large added block as one range comment (start_line … line in one hunk), which GitHub accepts', async () => {
    const block = ['export function checkout() {', ...Array.from({ length: 64 }, (_, i) => `  step${i}();`), '}'];
    fake.setPull(REPO.full_name, { number: 42, base: 'b42', head: 'h42' });
    fake.setDiff(REPO.full_name, 'b42...h42', [{ filename: 'src/checkout.ts', status: 'added', patch: addedPatch(block) }]);
    await handled(pullRequestEvent('opened', { number: 42, base: 'b42', head: 'h42' }));
    const posted = fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/pulls/42/reviews'));
    expect(posted.map((r) => r.status)).toEqual([200]);
    const range = reviewsOn(42)[0]!.comments.find((c) => /lines added in one block/.test(c.body));
    expect(range).toMatchObject({ path: 'src/checkout.ts', start_line: 1, start_side: 'RIGHT', line: 66, side: 'RIGHT' });
  });

  it('ignores a review-thread comment by a bot, and a bare 👍 in a thread a person started', async () => {
    const before = await tableCounts(sb);
    const bot = await send(reviewCommentEvent({ number: 40, inReplyTo: 1, body: '/ask why?', sender: 'renovate[bot]', senderType: 'Bot' }));
    expect(bot).toMatchObject({ status: 200, body: { ignored: 'a comment by a bot' } });
    expect(await tableCounts(sb)).toEqual(before);

    const human = fake.addComment({ repo: REPO.full_name, pr: 40, kind: 'review', body: 'Should this be cached?', login: 'erin', path: 'src/pay.ts', line: 2 });
    const comments = fake.comments.length;
    const votes = (await sb.api('GET', '/api/feedback/summary')).body;
    await handled(reviewCommentEvent({ number: 40, inReplyTo: human.id, body: '👍', sender: 'frank' }));
    expect(fake.comments.length).toBe(comments); // not answered
    expect((await sb.api('GET', '/api/feedback/summary')).body).toEqual(votes); // not recorded
  });

  it('answers /ask and /summarize with the pull request itself as context: title, description, changed files', async () => {
    fake.setPull(REPO.full_name, {
      number: 43,
      base: 'b43',
      head: 'h43',
      title: 'Add invoice export',
      body: 'Exports invoices as CSV for the accounting team.',
      author: 'grace',
    });
    fake.setDiff(REPO.full_name, 'b43...h43', [
      ...pay(),
      { filename: 'src/invoices/export.ts', status: 'added', patch: addedPatch(['export const csv = 1;']) },
    ]);
    fake.addComment({ repo: REPO.full_name, pr: 43, kind: 'issue', body: 'Does the CSV export quote commas in invoice names?', login: 'heidi' });

    await handled(issueCommentEvent({ number: 43, body: '/ask what does the invoice export do?' }));
    const answer = fake.comments.filter((c) => c.pr === 43 && c.login === 'switchboard[bot]').at(-1)!;
    expect(answer.body).toContain('Exports invoices as CSV for the accounting team.');
    expect(answer.body).toContain('grace');

    await handled(issueCommentEvent({ number: 43, body: '/summarize' }));
    const summary = fake.comments.filter((c) => c.pr === 43 && c.login === 'switchboard[bot]').at(-1)!;
    expect(summary.body).toMatch(/participants?: .*grace/);
    expect(summary.body).toMatch(/heidi/);
    expect(summary.body).toMatch(/invoice/i);
  });

  it('delivers a routed webhook event as a comment on owner/repo#number, and refuses a target of another shape', async () => {
    const bad = await sb.api('POST', '/api/routes', { source: 'ci', agent: 'status', destination: { channel: 'github', target: 'acme/shop' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/not owner\/repo#number \(for example acme\/shop#12\)/);
    const route = await sb.api('POST', '/api/routes', { source: 'ci', agent: 'status', destination: { channel: 'github', target: 'acme/shop#44' } });
    expect(route.status).toBe(201);
    try {
      const res = await sb.app.request('/hooks/ci', signedHook({ type: 'build.failed', text: 'nightly failed' }));
      expect(res.status).toBeLessThan(300);
      const [comment] = await until(
        () => fake.comments.filter((c) => c.pr === 44 && c.kind === 'issue'),
        (c) => c.length > 0,
      );
      expect(comment!.body).toMatch(/queue/i);
      expect(comment!.body).toMatch(UUID);
    } finally {
      await sb.api('DELETE', `/api/routes/${route.body.id}`);
    }
  });

  it('posts each comment once when two executions review the same pull request at the same time', async () => {
    fake.setPull(REPO.full_name, { number: 45, base: 'b45', head: 'h45' });
    fake.setDiff(REPO.full_name, 'b45...h45', pay());
    fake.slowReviews(1500); // the first review is still being posted when the second wants to post
    try {
      await Promise.all([
        handled(pullRequestEvent('opened', { number: 45, base: 'b45', head: 'h45' })),
        handled(issueCommentEvent({ number: 45, body: '/review' })),
      ]);
    } finally {
      fake.slowReviews(0);
    }
    const inline = reviewsOn(45).flatMap((r) => r.comments.map((c) => `${c.path}:${c.line}`));
    expect(inline.sort()).toEqual(['src/pay.ts:2', 'src/pay.ts:3']);
  });

  it('keeps the review and the 422 fallback within 65,536 characters on a huge pull request', async () => {
    const files: FakeFile[] = [
      ...Array.from({ length: 250 }, (_, i) => ({
        filename: `src/feature/module-${String(i).padStart(3, '0')}.ts`,
        status: 'added' as const,
        patch: addedPatch([`console.log('module ${i} ${'loaded '.repeat(20)}');`, `// TODO: finish module ${i}`]),
      })),
      ...Array.from({ length: 200 }, (_, i) => ({ filename: `dist/chunk-${i}.js`, status: 'modified' as const, patch: '@@ -1 +1 @@\n-a\n+b' })),
    ];
    fake.setPull(REPO.full_name, { number: 46, base: 'b46', head: 'h46' });
    fake.setDiff(REPO.full_name, 'b46...h46', files);
    fake.rejectInlineComments(1);
    await handled(pullRequestEvent('opened', { number: 46, base: 'b46', head: 'h46' }));
    const posts = fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/pulls/46/reviews'));
    expect(posts.map((r) => r.status)).toEqual([422, 200]);
    const [review] = reviewsOn(46);
    expect(review!.comments).toEqual([]);
    expect(review!.body.length).toBeLessThanOrEqual(65_536);
    expect(review!.body).toMatch(/GitHub did not accept these as inline comments/);
    expect(review!.body).toMatch(/- …and \d+ more/);
    // 200 generated bundles and the modules past the review budget: the first 50 listed, then how many more.
    const skipped = /\*\*Skipped \((\d+)\):\*\*\n((?:- .*\n){50})- …and (\d+) more/.exec(review!.body);
    expect(Number(skipped?.[1])).toBeGreaterThan(200);
    expect(Number(skipped?.[3])).toBe(Number(skipped?.[1]) - 50);
    expect(skipped?.[2]).toMatch(/^- `src\/feature\/module-\d+\.ts` — over the review budget$/m);
    expect(review!.body).toMatch(UUID);
  });

  it('hands a 403 with Retry-After 60 to the queue: the execution waits, it does not die', async () => {
    fake.setPull(REPO.full_name, { number: 47, base: 'b47', head: 'h47' });
    fake.setDiff(REPO.full_name, 'b47...h47', pay());
    fake.rateLimit(/\/pulls\/47$/, 60);
    const sent = await send(pullRequestEvent('opened', { number: 47, base: 'b47', head: 'h47' }));
    const id = sent.body.executions[0].id;
    const row = await until(
      () => sb.api('GET', `/api/executions/${id}`),
      (r) => /retry after 60 s/.test(JSON.stringify(r.body)),
    );
    expect(JSON.stringify(row.body)).not.toMatch(/"status":"dead"/);
    expect(reviewsOn(47)).toHaveLength(0); // not yet: GitHub asked for a minute
  });
});

describe.each(databaseKinds)('GitHub drafts when GITHUB_REVIEW_DRAFTS=true on %s', (kind) => {
  it('reviews a draft pull request like any other', async () => {
    const fake = await startFakeGithub();
    const sb = await startTestSwitchboard(kind, env(fake, { GITHUB_REVIEW_DRAFTS: 'true' }));
    try {
      fake.setPull(REPO.full_name, { number: 50, base: 'b50', head: 'h50', draft: true });
      fake.setDiff(REPO.full_name, 'b50...h50', pay());
      await client(sb).handled(pullRequestEvent('opened', { number: 50, base: 'b50', head: 'h50', draft: true }));
      expect(fake.reviews.map((r) => [r.pr, r.commit_id, r.comments.length])).toEqual([[50, 'h50', 2]]);
    } finally {
      await sb.close();
      await fake.close();
    }
  });
});

describe.each(databaseKinds)('GitHub webhooks on a web-only process on %s', (kind) => {
  it('stores a thread vote and an App event without calling GitHub inside the request', async () => {
    const fake = await startFakeGithub();
    const sb = await startTestSwitchboard(kind, env(fake), { role: 'web' });
    try {
      const { send } = client(sb);
      const vote = await send(reviewCommentEvent({ number: 60, inReplyTo: 123, body: '+1', installationId: 9 }));
      const review = await send(pullRequestEvent('opened', { number: 60, base: 'b60', head: 'h60', installationId: 9 }));
      expect([vote.status, review.status]).toEqual([202, 202]);
      expect(fake.requests).toEqual([]);
    } finally {
      await sb.close();
      await fake.close();
    }
  });
});

describe.each(databaseKinds)('GitHub review memory across a restart on %s', (kind) => {
  it('a new process on the same database does not repeat comments made before the restart', async () => {
    const fake = await startFakeGithub();
    const first = await startTestSwitchboard(kind, env(fake));
    let second: Awaited<ReturnType<typeof startSwitchboard>> | undefined;
    try {
      fake.setPull(REPO.full_name, { number: 70, base: 'b70', head: 'h70a' });
      fake.setDiff(REPO.full_name, 'b70...h70a', pay());
      await client(first).handled(pullRequestEvent('opened', { number: 70, base: 'b70', head: 'h70a' }));
      expect(fake.reviews[0]!.comments).toHaveLength(2);
      await first.stop();

      second = await startSwitchboard(loadConfig({ ADMIN_TOKEN, RETRY_DELAY_SECONDS: '1', LOG_LEVEL: 'silent', ...first.database.env, ...env(fake) }), {
        listen: false,
        logger: createLogger('silent'),
      });
      // A force-push: the whole pull request is read again, with one new finding.
      const pushed: FakeFile[] = [{ filename: 'src/pay.ts', status: 'added', patch: addedPatch([...PAY_LINES, '// FIXME: rounding']) }];
      fake.setPull(REPO.full_name, { number: 70, base: 'b70', head: 'h70b' });
      fake.setDiff(REPO.full_name, 'b70...h70b', pushed);
      fake.setDiff(REPO.full_name, 'h70a...h70b', pushed, 'diverged');
      await client(second).handled(pullRequestEvent('synchronize', { number: 70, base: 'b70', head: 'h70b', before: 'h70a' }));
      const after = fake.reviews[1]!;
      expect(after.comments.map((c) => `${c.path}:${c.line}`)).toEqual(['src/pay.ts:6']);
      expect(after.body).toMatch(/2 findings were already raised on an earlier push/);
    } finally {
      await second?.stop();
      await first.database.drop();
      await fake.close();
    }
  }, 120_000); // two processes start one after the other
});
