/**
 * The GitHub adapter on its own, against the fake GitHub: rate limits handed to the queue, installation tokens
 * refreshed before they expire, routing targets, review bodies within GitHub's limit, one diff budget, the review lease.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGithubAdapter, githubTargetProblem, reviewBody } from '../channels/github/index.ts';
import { loadConfig } from '../src/config.ts';
import { truncateToTokens } from '../src/llm/index.ts';
import { planPullRequestReview, planReview, REVIEW_TOKEN_BUDGET, type ReviewMemory, type ReviewPlan } from '../src/review/index.ts';
import { RetryLaterError } from '../src/ports.ts';
import type { Envelope, Finding } from '../src/types.ts';
import { startFakeGithub, type FakeGithub } from './fakes/github-api.ts';
import { addedPatch, REPO, WEBHOOK_SECRET } from './fixtures/github/events.ts';
import { databaseKinds } from './support/databases.ts';
import { outbound } from './support/outbound.ts';
import { startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';

/** Review memory in a Map: enough for one adapter on its own. */
function memory(): ReviewMemory {
  const heads = new Map<string, string>();
  const seen = new Set<string>();
  return {
    lastReviewedHead: async (repo, pr) => heads.get(`${repo}#${pr}`),
    knownFingerprints: async (repo, pr, fps) => new Set(fps.filter((f) => seen.has(`${repo}#${pr}:${f}`))),
    recordReview: async (r) => {
      heads.set(`${r.repo}#${r.pr}`, r.headSha);
      for (const f of r.fingerprints) seen.add(`${r.repo}#${r.pr}:${f}`);
    },
    acquireReviewLease: async () => true,
    releaseReviewLease: async () => {},
  };
}

function reviewEnvelope(number: number, installationId?: number): Envelope {
  return {
    channel: 'github',
    deliveryId: `d-${number}-${Math.random()}`,
    tenantId: REPO.full_name,
    conversationKey: `${REPO.full_name}#${number}`,
    userId: 'octocat',
    text: 'Review',
    receivedAt: new Date().toISOString(),
    agent: 'review',
    replyRef: { kind: 'pull_request', owner: REPO.owner, repo: REPO.name, number, action: 'opened', ...(installationId ? { installationId } : {}) },
  };
}

const PAY = addedPatch(['export function pay(amount: number) {', "  console.debug('paying', amount);", '  return amount;', '}']);

describe('GitHub rate limits', () => {
  let fake: FakeGithub;
  beforeAll(async () => {
    fake = await startFakeGithub();
  });
  afterAll(async () => fake?.close());

  it('hands a secondary rate limit on as RetryLaterError with the wait GitHub asked for, waiting nothing in place', async () => {
    const config = loadConfig({ GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET, GITHUB_TOKEN: 'ghp_x', GITHUB_API_URL: fake.apiUrl }).github;
    const adapter = createGithubAdapter(config, { memory: memory() });
    fake.setPull(REPO.full_name, { number: 30, base: 'b30', head: 'h30' });
    fake.setDiff(REPO.full_name, 'b30...h30', [{ filename: 'src/pay.ts', status: 'added', patch: PAY }]);

    fake.rateLimit(/\/pulls\/30$/, 60);
    const failed = await adapter.prepare!(reviewEnvelope(30), { executionId: 'e1', agent: 'review' }).then(
      () => undefined,
      (err) => err,
    );
    expect(failed).toBeInstanceOf(RetryLaterError);
    expect(failed).toMatchObject({ retryAfterMs: 60_000 });
    expect(failed.message).toMatch(/retry after 60 s/); // the worker runs it again after 60 s

    // Once the limit is over, the same call goes through.
    const prepared = await adapter.prepare!(reviewEnvelope(30), { executionId: 'e2', agent: 'review' });
    const { plan } = await planPullRequestReview(memory(), prepared.pullRequest!);
    expect(plan.reviewed).toEqual(['src/pay.ts']);
  });
});

describe('GitHub App installation tokens', () => {
  it('are reused until shortly before they expire, then replaced, and requests use the new one', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const fake = await startFakeGithub();
    let clock = new Date('2026-03-01T12:00:00Z');
    const now = () => clock;
    fake.enableApp('5150', publicKey.export({ type: 'spki', format: 'pem' }).toString(), { now, tokenLifetimeSeconds: 3600 });
    const config = loadConfig({
      GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
      GITHUB_APP_ID: '5150',
      GITHUB_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      GITHUB_API_URL: fake.apiUrl,
    }).github;
    const adapter = createGithubAdapter(config, { memory: memory(), now });
    fake.setPull(REPO.full_name, { number: 31, base: 'b31', head: 'h31' });
    fake.setDiff(REPO.full_name, 'b31...h31', [{ filename: 'src/pay.ts', status: 'added', patch: PAY }]);
    try {
      const prepare = () => adapter.prepare!(reviewEnvelope(31, 88), { executionId: 'e', agent: 'review' });
      await prepare();
      clock = new Date(clock.getTime() + 30 * 60_000); // half an hour: the token is still good
      await prepare();
      expect(fake.tokens.map((t) => t.token)).toEqual(['ghs_installation_88_1']);

      clock = new Date(clock.getTime() + 27 * 60_000); // 3 minutes before it expires: replaced before use
      const before = fake.requests.length;
      await prepare();
      expect(fake.tokens.map((t) => t.token)).toEqual(['ghs_installation_88_1', 'ghs_installation_88_2']);
      const after = fake.requests.slice(before).filter((r) => r.path.startsWith('/repos/'));
      expect(after.length).toBeGreaterThan(0);
      expect(after.every((r) => r.authorization === 'token ghs_installation_88_2' && r.status < 400)).toBe(true);
    } finally {
      await fake.close();
    }
  });
});

describe('GitHub routed replies with App authentication', () => {
  it('find the installation on the named repository, comment there, and say when the App is not installed', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const fake = await startFakeGithub();
    fake.enableApp('6060', publicKey.export({ type: 'spki', format: 'pem' }).toString(), { installations: { 'acme/shop': 99 } });
    const config = loadConfig({
      GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
      GITHUB_APP_ID: '6060',
      GITHUB_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      GITHUB_API_URL: fake.apiUrl,
    }).github;
    const adapter = outbound(createGithubAdapter(config, { memory: memory() }));
    try {
      await adapter.postTo('acme/shop#5', { text: 'Nightly build failed on main.' }, { executionId: '0b7c5a39-1111-4a4a-9c9c-123456789abc' });
      const [comment] = fake.comments;
      expect(comment).toMatchObject({ repo: 'acme/shop', pr: 5, kind: 'issue' });
      expect(comment!.body).toMatch(/^Nightly build failed on main\.\n<!-- switchboard:execution=0b7c5a39-1111-4a4a-9c9c-123456789abc -->$/);
      expect(fake.requests.find((r) => r.path === '/repos/acme/shop/issues/5/comments')?.authorization).toBe('token ghs_installation_99_1');
      await expect(adapter.postTo('acme/other#1', { text: 'x' }, { executionId: 'e' })).rejects.toThrow(
        /App 6060 is not installed on acme\/other: install it there/,
      );
      await expect(adapter.postTo('acme/shop', { text: 'x' }, { executionId: 'e' })).rejects.toThrow(/not owner\/repo#number/);
    } finally {
      await fake.close();
    }
  });
});

describe('GitHub routing targets', () => {
  it('accepts owner/repo#number and says what to write otherwise', () => {
    for (const good of ['acme/shop#12', 'octo-org/my.repo_1#7']) expect(githubTargetProblem(good)).toBeUndefined();
    for (const bad of ['acme/shop', 'shop#12', 'acme/shop#0', 'acme/shop#x', 'https://github.com/acme/shop/pull/12', '#12']) {
      expect(githubTargetProblem(bad)).toMatch(/is not owner\/repo#number \(for example acme\/shop#12\)/);
    }
  });
});

describe('GitHub review bodies', () => {
  const plan = (over: Partial<ReviewPlan>): ReviewPlan => ({
    owner: 'acme',
    repo: 'shop',
    number: 1,
    headSha: 'h',
    baseSha: 'b',
    mode: 'full',
    reviewed: [],
    partial: [],
    skipped: [],
    addedTotal: 0,
    removedTotal: 0,
    addedReviewed: 0,
    truncatedList: false,
    requested: false,
    ...over,
  });

  it('stay within 65,536 characters for a huge pull request, listing the first entries and how many more', () => {
    const paths = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}/${'deeply/nested/'.repeat(4)}file${i}.ts`);
    const huge = plan({
      reviewed: paths(3000, 'src'),
      partial: paths(2000, 'lib').map((path) => ({ path, hunksLeft: 3 })),
      skipped: paths(5000, 'dist').map((path) => ({ path, reason: 'generated' })),
      addedTotal: 90_000,
      addedReviewed: 40_000,
    });
    const outside: Finding[] = Array.from({ length: 4000 }, (_, i) => ({
      path: `src/f${i}.ts`,
      line: i + 1,
      severity: 'medium',
      body: `Debug leftover\n\n${'advice '.repeat(200)}`,
    }));
    const summary = {
      filesReviewed: huge.reviewed,
      skipped: [],
      findingsByRule: { 'debug-leftover': 4000, 'missing-tests': 1 },
      general: [{ rule: 'missing-tests', body: `Source changed without any test change (${huge.reviewed.join(', ')}).` }],
      suppressed: 0,
      risk: 'medium',
      linesAdded: 1,
      linesRemoved: 0,
    };
    const reply = { text: 'x'.repeat(200_000), findings: outside, data: { summary } };
    for (const note of [undefined, '**GitHub did not accept these as inline comments (Line could not be resolved), so here they are (4000):**']) {
      const body = reviewBody(huge, reply, { repeated: 3, outside, note }, '0b7c5a39-1111-4a4a-9c9c-123456789abc');
      expect(body.length).toBeLessThanOrEqual(65_536);
      expect(body).toContain('**Risk:** medium (4001 findings).');
      expect(body).toContain('**Reviewed (3000):**');
      expect(body).toContain('- …and 2950 more'); // reviewed
      expect(body).toContain('- …and 1950 more'); // partially reviewed
      expect(body).toContain('- …and 4950 more'); // skipped
      expect(body).toContain('- …and 3950 more'); // comments in the body
      expect(body).toMatch(/\*\*Source changed without tests:\*\* Source changed without any test change/);
      expect(body.endsWith('<!-- switchboard:execution=0b7c5a39-1111-4a4a-9c9c-123456789abc -->')).toBe(true);
    }
  });

  it('plans no more diff than the review agent passes to the model, so the stated coverage is what was read', () => {
    const files = Array.from({ length: 40 }, (_, i) => ({
      filename: `src/mod${i}.ts`,
      status: 'added',
      additions: 60,
      patch: addedPatch(Array.from({ length: 60 }, (_, j) => `export const value${j} = ${j}; // a line long enough to count`)),
    }));
    const planned = planReview(files);
    expect(planned.skipped.some((s) => s.reason === 'over the review budget')).toBe(true);
    expect(truncateToTokens(planned.text, REVIEW_TOKEN_BUDGET)).toBe(planned.text);
  });
});

describe.each(databaseKinds)('GitHub review lease on %s', (kind) => {
  let sb: TestSwitchboard;
  beforeAll(async () => {
    sb = await startTestSwitchboard(kind);
  });
  afterAll(async () => sb?.close());

  it('is held by one execution at a time until released or expired', async () => {
    const store = sb.opened.store;
    const [a, b] = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'];
    expect(await store.acquireReviewLease('acme/shop', 1, a, 60)).toBe(true);
    expect(await store.acquireReviewLease('acme/shop', 1, b, 60)).toBe(false);
    expect(await store.acquireReviewLease('acme/shop', 2, b, 60)).toBe(true); // another pull request
    expect(await store.acquireReviewLease('acme/shop', 1, a, 60)).toBe(true); // its holder again (a retried attempt)
    await store.releaseReviewLease('acme/shop', 1, b); // not the holder: no effect
    expect(await store.acquireReviewLease('acme/shop', 1, b, 60)).toBe(false);
    await store.releaseReviewLease('acme/shop', 1, a);
    expect(await store.acquireReviewLease('acme/shop', 1, b, -1)).toBe(true); // a lease already run out …
    expect(await store.acquireReviewLease('acme/shop', 1, a, 60)).toBe(true); // … is anyone's
    // The lease row is no review: the last reviewed head is still unknown.
    expect(await store.lastReviewedHead('acme/shop', 1)).toBeUndefined();
  });
});
