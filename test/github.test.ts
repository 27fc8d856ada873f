/**
 * The GitHub channel end to end: signed webhook deliveries into a real Switchboard, reviews and replies out through
 * the real Octokit to a fake GitHub that refuses what GitHub refuses.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGithub, type FakeFile, type FakeGithub } from './fakes/github-api.ts';
import { addedPatch, delivery, issueCommentEvent, pullRequestEvent, REPO, reviewCommentEvent, WEBHOOK_SECRET } from './fixtures/github/events.ts';
import { databaseKinds } from './support/databases.ts';
import { startTestSwitchboard, tableCounts, type TestSwitchboard } from './support/switchboard.ts';

const UUID = /switchboard:execution=([0-9a-f-]{36})/;

const CART_PATCH = [
  '@@ -1,6 +1,9 @@',
  " import { price } from './price.ts';",
  ' ',
  ' export function total(items: Item[]): number {',
  "+  console.log('items', items);",
  '+  // TODO: apply discounts',
  '   let sum = 0;',
  '   for (const item of items) sum += price(item);',
  '+  sum = Math.round(sum * 100) / 100;',
  '   return sum;',
].join('\n');

/** The pull request's first push: a source change with a debug leftover and a TODO, plus files a review skips. */
const FIRST_PUSH: FakeFile[] = [
  { filename: 'package-lock.json', status: 'modified', patch: '@@ -10,3 +10,3 @@\n   "lockfileVersion": 3,\n-  "name": "shop"\n+  "name": "shop-app"' },
  { filename: 'assets/logo.png', status: 'added' },
  { filename: 'src/cart.ts', status: 'modified', patch: CART_PATCH },
  { filename: 'src/legacy.ts', status: 'removed', patch: '@@ -1,2 +0,0 @@\n-export const legacy = 1;\n-export const older = 2;' },
];

const PAY_LINES = ['export function pay(amount: number) {', "  console.debug('paying', amount);", '  return amount;', '}'];

function startEnv(fake: FakeGithub, extra: Record<string, string> = {}) {
  return { GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET, GITHUB_TOKEN: 'ghp_test_token', GITHUB_API_URL: fake.apiUrl, RATE_LIMIT_BURST: '1000', ...extra };
}

describe.each(databaseKinds)('GitHub channel on %s', (kind) => {
  let fake: FakeGithub;
  let sb: TestSwitchboard;
  beforeAll(async () => {
    fake = await startFakeGithub();
    sb = await startTestSwitchboard(kind, startEnv(fake));
  });
  afterAll(async () => {
    await sb?.close();
    await fake?.close();
  });

  async function send(e: { event: string; payload: unknown }, opts: { id?: string; secret?: string } = {}) {
    const res = await sb.app.request('/github/webhook', await delivery(e, opts));
    return { status: res.status, body: (await res.json()) as any };
  }

  /** Sends a delivery and waits until every execution it created has finished (replies included). */
  async function handled(e: { event: string; payload: unknown }, opts: { id?: string } = {}) {
    const sent = await send(e, opts);
    expect(sent.status).toBe(202);
    const rows = await Promise.all(sent.body.executions.map((x: { id: string }) => sb.waiter.wait(x.id, 30_000)));
    for (const row of rows) expect(row).toMatchObject({ status: 'succeeded' });
    return rows.map((r) => r!);
  }

  const reviewsOn = (pr: number) => fake.reviews.filter((r) => r.repo === REPO.full_name && r.pr === pr);

  it('reviews an opened pull request once on its head commit, with inline comments on the exact lines, even when redelivered', async () => {
    fake.setPull(REPO.full_name, { number: 1, base: 'base1', head: 'head1' });
    fake.setDiff(REPO.full_name, 'base1...head1', FIRST_PUSH);
    const event = pullRequestEvent('opened', { number: 1, base: 'base1', head: 'head1' });
    const [execution] = await handled(event, { id: 'delivery-opened-1' });

    const [review] = reviewsOn(1);
    expect(review).toMatchObject({ commit_id: 'head1', event: 'COMMENT' });
    const inline = review!.comments.map((c) => ({ path: c.path, line: c.line, side: c.side }));
    expect(inline).toEqual([
      { path: 'src/cart.ts', line: 4, side: 'RIGHT' },
      { path: 'src/cart.ts', line: 5, side: 'RIGHT' },
    ]);
    expect(review!.comments.every((c) => !('position' in c))).toBe(true);
    expect(review!.comments[0]!.body).toMatch(/console\.log/);
    // The summary says what was reviewed, what was skipped and why, and which execution wrote it.
    expect(review!.body).toContain('**Changed:** 4 files, +4 −3 lines.');
    expect(review!.body).toMatch(/Coverage:\*\* 1 of 4 changed files reviewed/);
    expect(review!.body).toMatch(/`package-lock.json` — lockfile/);
    expect(review!.body).toMatch(/`assets\/logo.png` — no diff from GitHub \(binary or too large\)/);
    expect(review!.body).toMatch(/`src\/legacy.ts` — deleted file/);
    expect(UUID.exec(review!.body)?.[1]).toBe(execution!.id);
    expect(fake.reactions).toContainEqual(expect.objectContaining({ target: 'issue', id: 1, content: 'eyes' }));

    // GitHub's "Redeliver" sends the same X-GitHub-Delivery: acknowledged, nothing new runs.
    const counts = await tableCounts(sb);
    const again = await Promise.all(Array.from({ length: 4 }, () => send(event, { id: 'delivery-opened-1' })));
    expect(again.map((r) => [r.status, r.body.duplicate])).toEqual(Array(4).fill([200, true]));
    expect(await tableCounts(sb)).toEqual(counts);
    expect(reviewsOn(1)).toHaveLength(1);
  });

  it('on synchronize reviews only what changed since the last reviewed commit, and never repeats a comment', async () => {
    // Push 2 (fast-forward): a new file with its own debug leftover. Only it is read.
    const push2 = [...FIRST_PUSH, { filename: 'src/pay.ts', status: 'added' as const, patch: addedPatch(PAY_LINES) }];
    fake.setPull(REPO.full_name, { number: 1, base: 'base1', head: 'head2' });
    fake.setDiff(REPO.full_name, 'base1...head2', push2);
    fake.setDiff(REPO.full_name, 'head1...head2', [{ filename: 'src/pay.ts', status: 'added', patch: addedPatch(PAY_LINES) }]);
    await handled(pullRequestEvent('synchronize', { number: 1, base: 'base1', head: 'head2', before: 'head1' }));
    const second = reviewsOn(1)[1]!;
    expect(second.commit_id).toBe('head2');
    expect(second.comments.map((c) => `${c.path}:${c.line}`)).toEqual(['src/pay.ts:2']);
    expect(second.body).toMatch(/Only changes since head1 /);

    // Push 3 rewrites history (force-push): the whole PR is read again, with cart.ts shifted by a new first line.
    // The old findings moved to other lines but are the same findings on the same code: not repeated.
    const shifted = CART_PATCH.replace('@@ -1,6 +1,9 @@', '@@ -1,6 +1,10 @@').replace(
      " import { price } from './price.ts';",
      "+import { log } from './log.ts';\n import { price } from './price.ts';",
    );
    const push3: FakeFile[] = [
      ...FIRST_PUSH.filter((f) => f.filename !== 'src/cart.ts'),
      { filename: 'src/cart.ts', status: 'modified', patch: shifted },
      { filename: 'src/pay.ts', status: 'added', patch: addedPatch([...PAY_LINES, '// FIXME: currency']) },
    ];
    fake.setPull(REPO.full_name, { number: 1, base: 'base1', head: 'head3' });
    fake.setDiff(REPO.full_name, 'base1...head3', push3);
    fake.setDiff(REPO.full_name, 'head2...head3', push3, 'diverged');
    await handled(pullRequestEvent('synchronize', { number: 1, base: 'base1', head: 'head3', before: 'head2' }));
    const third = reviewsOn(1)[2]!;
    expect(third.comments.map((c) => `${c.path}:${c.line}`)).toEqual(['src/pay.ts:5']);
    expect(third.comments[0]!.body).toMatch(/FIXME/);
    expect(third.body).toMatch(/3 findings were already raised on an earlier push/);

    // Push 4 only deletes a line: nothing new to say, so no review at all.
    fake.setPull(REPO.full_name, { number: 1, base: 'base1', head: 'head4' });
    fake.setDiff(REPO.full_name, 'base1...head4', push3);
    fake.setDiff(REPO.full_name, 'head3...head4', [{ filename: 'src/pay.ts', status: 'modified', patch: '@@ -4,2 +4,1 @@\n }\n-// FIXME: currency' }]);
    await handled(pullRequestEvent('synchronize', { number: 1, base: 'base1', head: 'head4', before: 'head3' }));
    expect(reviewsOn(1)).toHaveLength(3);
  });

  it('answers /ask in a PR comment with a PR comment, and /ask in a review thread inside that thread', async () => {
    const [asked] = await handled(issueCommentEvent({ number: 1, id: 5001, body: '/ask what does this pull request change?' }));
    const answer = fake.comments.filter((c) => c.kind === 'issue' && c.pr === 1).at(-1)!;
    expect(UUID.exec(answer.body)?.[1]).toBe(asked!.id);
    expect(asked!.agent).toBe('ask');
    expect(fake.reactions).toContainEqual(expect.objectContaining({ target: 'issue_comment', id: 5001, content: 'eyes' }));

    const thread = fake.comments.find((c) => c.kind === 'review' && c.pr === 1 && !c.in_reply_to_id)!;
    const [inThread] = await handled(reviewCommentEvent({ number: 1, id: 5002, inReplyTo: thread.id, body: '/ask is this log needed?' }));
    const threadReply = fake.comments.at(-1)!;
    expect(threadReply).toMatchObject({ kind: 'review', in_reply_to_id: thread.id });
    expect(UUID.exec(threadReply.body)?.[1]).toBe(inThread!.id);
  });

  it('re-reviews on /review without repeating comments already made', async () => {
    const before = reviewsOn(1).length;
    const [execution] = await handled(issueCommentEvent({ number: 1, body: '/review' }));
    expect(execution!.agent).toBe('review');
    const review = reviewsOn(1)[before]!;
    expect(review.commit_id).toBe('head4');
    expect(review.comments).toEqual([]);
    expect(review.body).toMatch(/4 findings were already raised/);
  });

  it('ignores comments by bots, including its own', async () => {
    const before = await tableCounts(sb);
    const bot = await send(issueCommentEvent({ number: 1, body: '/review', sender: 'dependabot[bot]', senderType: 'Bot' }));
    expect(bot).toMatchObject({ status: 200, body: { ok: true, ignored: 'a comment by a bot' } });
    const own = await send(issueCommentEvent({ number: 1, body: '/ask hi\n<!-- switchboard:execution=00000000-0000-0000-0000-000000000000 -->' }));
    expect(own.body.ignored).toBe('a comment by a bot');
    const chatter = await send(issueCommentEvent({ number: 1, body: 'LGTM, thanks!' }));
    expect(chatter.body.ignored).toBe('not a command');
    expect(await tableCounts(sb)).toEqual(before);
  });

  it('records /feedback +1 in a review thread on the execution that wrote the comment, and 👍 reactions on its comments', async () => {
    const review = reviewsOn(1)[0]!;
    const reviewExecution = UUID.exec(review.body)![1]!;
    const thread = fake.comments.find((c) => c.kind === 'review' && c.pr === 1 && !c.in_reply_to_id)!;
    await handled(reviewCommentEvent({ number: 1, inReplyTo: thread.id, body: '/feedback +1', sender: 'carol' }));
    const rated = await sb.api('GET', `/api/executions/${reviewExecution}`);
    expect(rated.status).toBe(200);
    let summary = await sb.api('GET', '/api/feedback/summary');
    expect(summary.body.by_agent.find((r: any) => r.agent === 'review')).toMatchObject({ up: 1, down: 0 });

    // GitHub sends no event for reactions: they are collected the next time the PR is worked on.
    const answer = fake.comments.find((c) => c.kind === 'issue' && c.pr === 1)!;
    fake.react('issue_comment', answer.id, '-1', 'dave');
    await handled(issueCommentEvent({ number: 1, body: '/summarize' }));
    summary = await sb.api('GET', '/api/feedback/summary');
    expect(summary.body.by_agent.find((r: any) => r.agent === 'ask')).toMatchObject({ down: 1 });
  });

  it('keeps a review GitHub refuses with 422 by moving its inline comments into the body', async () => {
    fake.setPull(REPO.full_name, { number: 3, base: 'base3', head: 'head3a' });
    fake.setDiff(REPO.full_name, 'base3...head3a', [{ filename: 'src/pay.ts', status: 'added', patch: addedPatch(PAY_LINES) }]);
    fake.rejectInlineComments(1);
    await handled(pullRequestEvent('opened', { number: 3, base: 'base3', head: 'head3a' }));
    const refused = fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/pulls/3/reviews'));
    expect(refused.map((r) => r.status)).toEqual([422, 200]);
    const [review] = reviewsOn(3);
    expect(review!.comments).toEqual([]);
    expect(review!.body).toMatch(/GitHub did not accept these as inline comments/);
    expect(review!.body).toMatch(/`src\/pay.ts:2` — Debug leftover/);
  });

  it('never sends GitHub an inline comment on a line outside the diff: it goes into the review body instead', async () => {
    // Push 2 touches src/util.ts in a way that ends where main already was, so the PR's own diff no longer lists it.
    fake.setPull(REPO.full_name, { number: 6, base: 'base6', head: 'head6a' });
    fake.setDiff(REPO.full_name, 'base6...head6a', [{ filename: 'README.md', status: 'modified', patch: '@@ -1 +1 @@\n-# Shop\n+# The shop' }]);
    await handled(pullRequestEvent('opened', { number: 6, base: 'base6', head: 'head6a' }));
    fake.setPull(REPO.full_name, { number: 6, base: 'base6', head: 'head6b' });
    fake.setDiff(REPO.full_name, 'base6...head6b', [{ filename: 'README.md', status: 'modified', patch: '@@ -1 +1 @@\n-# Shop\n+# The shop' }]);
    fake.setDiff(REPO.full_name, 'head6a...head6b', [{ filename: 'src/util.ts', status: 'added', patch: addedPatch(["console.log('util');"]) }]);
    await handled(pullRequestEvent('synchronize', { number: 6, base: 'base6', head: 'head6b', before: 'head6a' }));
    const posts = fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/pulls/6/reviews'));
    expect(posts.map((r) => r.status)).toEqual([200, 200]);
    const review = reviewsOn(6)[1]!;
    expect(review.comments).toEqual([]);
    expect(review.body).toMatch(/Comments on lines outside the diff \(1\)/);
    expect(review.body).toMatch(/`src\/util.ts:1` — Debug leftover/);
  });

  it('waits out a secondary rate limit (403 with Retry-After) and still posts the review', async () => {
    fake.setPull(REPO.full_name, { number: 4, base: 'base4', head: 'head4a' });
    fake.setDiff(REPO.full_name, 'base4...head4a', [{ filename: 'src/pay.ts', status: 'added', patch: addedPatch(PAY_LINES) }]);
    fake.rateLimit(/\/pulls\/4$/, 1);
    await handled(pullRequestEvent('opened', { number: 4, base: 'base4', head: 'head4a' }));
    expect(fake.requests.filter((r) => r.path.endsWith('/pulls/4')).map((r) => r.status)).toEqual([403, 200]);
    expect(reviewsOn(4)).toHaveLength(1);
  });

  it('skips draft pull requests and closed ones, and acknowledges pings', async () => {
    const before = await tableCounts(sb);
    const draft = await send(pullRequestEvent('opened', { number: 5, base: 'b5', head: 'h5', draft: true }));
    expect(draft).toMatchObject({ status: 200, body: { ignored: expect.stringMatching(/draft/) } });
    const ping = await send({ event: 'ping', payload: { zen: 'Keep it logically awesome.', hook_id: 1, repository: { full_name: REPO.full_name } } });
    expect(ping.body.ignored).toMatch(/ping/);
    expect(await tableCounts(sb)).toEqual(before);
  });
});

describe.each(databaseKinds)('GitHub large pull requests on %s', (kind) => {
  let fake: FakeGithub;
  let sb: TestSwitchboard;
  beforeAll(async () => {
    fake = await startFakeGithub();
    sb = await startTestSwitchboard(kind, startEnv(fake));
  });
  afterAll(async () => {
    await sb?.close();
    await fake?.close();
  });

  it('reviews within the diff budget and lists every file it skipped, with why, and its coverage', async () => {
    // 40 modules of ~3 KB each (~30k tokens) exceed the 24k-token budget; a lockfile, a bundle and a deletion-only hunk ride along.
    const modules: FakeFile[] = Array.from({ length: 40 }, (_, i) => ({
      filename: `src/mod${String(i).padStart(2, '0')}.ts`,
      status: 'added',
      patch: addedPatch([
        `console.log('module ${i}');`,
        ...Array.from({ length: 60 }, (_, j) => `export const value${j} = ${j}; // a line long enough to count`),
      ]),
    }));
    const files: FakeFile[] = [
      { filename: 'dist/bundle.js', status: 'modified', patch: '@@ -1 +1 @@\n-var a=1\n+var a=2' },
      {
        filename: 'src/api.ts',
        status: 'modified',
        patch:
          '@@ -1,3 +1,2 @@\n export const a = 1;\n-export const b = 2;\n export const c = 3;\n@@ -20,2 +19,3 @@\n export const x = 1;\n+export const y = 2;\n export const z = 3;',
      },
      ...modules,
      { filename: 'yarn.lock', status: 'modified', patch: '@@ -1 +1 @@\n-a@1\n+a@2' },
    ];
    fake.setPull(REPO.full_name, { number: 7, base: 'big0', head: 'big1' });
    fake.setDiff(REPO.full_name, 'big0...big1', files);
    const sent = await sb.app.request('/github/webhook', await delivery(pullRequestEvent('opened', { number: 7, base: 'big0', head: 'big1' })));
    const id = ((await sent.json()) as any).executions[0].id;
    expect(await sb.waiter.wait(id, 30_000)).toMatchObject({ status: 'succeeded' });

    const [review] = fake.reviews;
    const skipped = [...review!.body.matchAll(/^- `([^`]+)` — (.+)$/gm)].map((m) => [m[1], m[2]]);
    expect(skipped).toContainEqual(['dist/bundle.js', 'generated']);
    expect(skipped).toContainEqual(['yarn.lock', 'lockfile']);
    expect(skipped).toContainEqual(['src/api.ts', '1 deletion-only hunk']);
    const overBudget = skipped.filter(([, why]) => why === 'over the review budget').map(([path]) => path);
    expect(overBudget.length).toBeGreaterThan(0);
    expect(overBudget).toContain('src/mod39.ts');
    const reviewed = 41 - overBudget.length;
    expect(review!.body).toContain(`**Coverage:** ${reviewed} of 43 changed files reviewed`);
    // Inline comments only where the review read; never on a file it skipped.
    const commented = new Set(review!.comments.map((c) => c.path));
    expect(commented.has('src/mod00.ts')).toBe(true);
    for (const path of overBudget) expect(commented.has(path!)).toBe(false);
  });
});

describe.each(databaseKinds)('GitHub App authentication on %s', (kind) => {
  it('exchanges a signed App JWT for an installation token once, and uses that token', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const fake = await startFakeGithub();
    fake.enableApp('424242', publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const sb = await startTestSwitchboard(kind, {
      GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
      GITHUB_APP_ID: '424242',
      GITHUB_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      GITHUB_API_URL: fake.apiUrl,
    });
    try {
      for (const [pr, head] of [
        [11, 'app1'],
        [12, 'app2'],
      ] as const) {
        fake.setPull(REPO.full_name, { number: pr, base: `base-${head}`, head });
        fake.setDiff(REPO.full_name, `base-${head}...${head}`, [{ filename: 'src/pay.ts', status: 'added', patch: addedPatch(PAY_LINES) }]);
        const res = await sb.app.request(
          '/github/webhook',
          await delivery(pullRequestEvent('opened', { number: pr, base: `base-${head}`, head, installationId: 77 })),
        );
        const id = ((await res.json()) as any).executions[0].id;
        expect(await sb.waiter.wait(id, 30_000)).toMatchObject({ status: 'succeeded' });
      }
      expect(fake.tokens).toEqual([{ installationId: 77, appId: '424242', token: 'ghs_installation_77_1', expiresAt: expect.any(String) }]);
      expect(fake.reviews).toHaveLength(2);
      const repoCalls = fake.requests.filter((r) => r.path.startsWith('/repos/'));
      expect(repoCalls.every((r) => r.authorization === 'token ghs_installation_77_1')).toBe(true);
    } finally {
      await sb.close();
      await fake.close();
    }
  });
});
