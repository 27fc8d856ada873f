import { describe, expect, it } from 'vitest';
import { normalizeGithub, rateLimitWait, verifyGithub } from '../channels/github/index.ts';
import { NormalizeError, VerificationError, type RawRequest } from '../src/ports.ts';
import type { Envelope } from '../src/types.ts';
import { startFakeGithub, type FakeGithub } from './fakes/github-api.ts';
import { delivery, example, issueCommentEvent, pullRequestEvent, REPO, reviewCommentEvent, WEBHOOK_SECRET } from './fixtures/github/events.ts';
import { channelContract } from './support/channel-contract.ts';

let fake: FakeGithub | undefined;
channelContract({
  name: 'github',
  channel: 'github',
  route: '/github/webhook',
  env: (url) => ({ GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET, GITHUB_TOKEN: 'ghp_contract', GITHUB_API_URL: url }),
  requiredEnv: ['GITHUB_WEBHOOK_SECRET', 'GITHUB_TOKEN or GITHUB_APP_ID + GITHUB_PRIVATE_KEY'],
  async startFake() {
    fake = await startFakeGithub();
    fake.setPull(REPO.full_name, { number: 8, base: 'b8', head: 'h8' }); // the pull request the contract's comments are on
    return { url: fake.apiUrl, close: fake.close };
  },
  // A person's message on GitHub is a `/command` comment on a pull request.
  message: (id, text, user) => delivery(issueCommentEvent({ number: 8, body: `/${text}`, sender: user ?? 'octocat' }), { id }),
  // 202 with the executions it started; a redelivery, 200 naming them again.
  async acked(res, duplicate) {
    expect(res.status).toBe(duplicate ? 200 : 202);
    expect(await res.json()).toMatchObject({ ok: true, duplicate });
  },
  async forgeries(id, text) {
    const event = issueCommentEvent({ number: 8, body: `/${text}`, sender: 'octocat' });
    const signed = await delivery(event, { id });
    const { 'x-hub-signature-256': _, ...unsigned } = signed.headers;
    return [
      { request: await delivery(event, { id, secret: 'not-the-secret' }), code: 'bad_signature' },
      { request: { ...signed, body: signed.body.replace('octocat', 'mallory') }, code: 'bad_signature' },
      { request: { ...signed, headers: unsigned }, code: 'missing_signature' },
    ];
  },
  sent: () => fake?.comments.filter((c) => c.kind === 'issue').map((c) => c.body) ?? [],
  calls: () => fake?.requests.length ?? 0,
});

const raw = async (e: { event: string; payload: unknown }, id?: string): Promise<RawRequest> => {
  const init = await delivery(e, { id });
  return { body: new TextEncoder().encode(init.body), headers: new Headers(init.headers), url: 'http://localhost/github/webhook', params: {} };
};
const options = { reviewDrafts: false, now: () => new Date('2026-01-01T00:00:00Z') };

describe('GitHub webhook verification', () => {
  it('accepts the exact signed bytes and refuses anything else', async () => {
    const req = await raw(pullRequestEvent('opened', { number: 1, base: 'b', head: 'h' }));
    await expect(verifyGithub(req, WEBHOOK_SECRET)).resolves.toBeUndefined();
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e) => (e instanceof VerificationError ? e.code : String(e)),
      );
    expect(await code(verifyGithub(req, 'other-secret'))).toBe('bad_signature');
    expect(await code(verifyGithub({ ...req, body: new Uint8Array([...req.body, 32]) }, WEBHOOK_SECRET))).toBe('bad_signature');
    expect(await code(verifyGithub({ ...req, body: new Uint8Array([0xff, 0xfe]) }, WEBHOOK_SECRET))).toBe('bad_signature');
    const headers = new Headers(req.headers);
    headers.delete('x-hub-signature-256');
    expect(await code(verifyGithub({ ...req, headers }, WEBHOOK_SECRET))).toBe('missing_signature');
    expect(await code(verifyGithub(req, undefined))).toBe('not_configured');
  });
});

describe('GitHub normalize', () => {
  async function envelopes(e: { event: string; payload: unknown }, opts = options): Promise<Envelope[] | { ignore: string }> {
    return normalizeGithub(await raw(e, 'delivery-1'), opts);
  }

  it('turns a pull_request event into a review envelope keyed by the delivery and the PR', async () => {
    const result = (await envelopes(pullRequestEvent('synchronize', { number: 42, base: 'b', head: 'h', installationId: 9 }))) as Envelope[];
    expect(result).toHaveLength(1);
    expect(result[0]).toMatchObject({
      channel: 'github',
      deliveryId: 'delivery-1',
      tenantId: 'acme/shop',
      conversationKey: 'acme/shop#42',
      agent: 'review',
      replyRef: { kind: 'pull_request', owner: 'acme', repo: 'shop', number: 42, installationId: 9, action: 'synchronize' },
    });
  });

  it('reviews drafts only when configured, and ignores actions that ask for no review', async () => {
    const draft = pullRequestEvent('opened', { number: 1, base: 'b', head: 'h', draft: true });
    expect(await envelopes(draft)).toEqual({ ignore: expect.stringMatching(/GITHUB_REVIEW_DRAFTS/) });
    expect(Array.isArray(await envelopes(draft, { ...options, reviewDrafts: true }))).toBe(true);
    expect(await envelopes(pullRequestEvent('closed', { number: 1, base: 'b', head: 'h' }))).toEqual({ ignore: expect.stringMatching(/closed/) });
    const labeled = { event: 'pull_request', payload: example('pull_request', 'labeled') };
    expect(await envelopes(labeled)).toEqual({ ignore: 'pull_request.labeled does not ask for a review' });
  });

  it('reads commands from PR comments, with where to answer', async () => {
    const [issue] = (await envelopes(issueCommentEvent({ number: 3, id: 77, body: '/ask why is the cart rounded?' }))) as Envelope[];
    expect(issue).toMatchObject({ text: '/ask why is the cart rounded?', replyRef: { kind: 'issue_comment', number: 3, commentId: 77 } });
    const [thread] = (await envelopes(reviewCommentEvent({ number: 3, id: 78, inReplyTo: 70, body: '/summarize' }))) as Envelope[];
    expect(thread).toMatchObject({ replyRef: { kind: 'review_comment', commentId: 78, threadId: 70 } });
    const onIssue = issueCommentEvent({ number: 3, body: '/review' });
    delete (onIssue.payload.issue as any).pull_request;
    expect(await envelopes(onIssue)).toEqual({ ignore: 'a comment on an issue, not a pull request' });
  });

  it('reads a vote in a thread from the payload alone, leaving which execution it rates to the worker', async () => {
    const [vote] = (await envelopes(reviewCommentEvent({ number: 3, inReplyTo: 70, body: '👍' }))) as Envelope[];
    expect(vote).toMatchObject({ text: '👍', replyRef: { kind: 'review_comment', threadId: 70, bareVote: true } });
    expect(vote!.args).toBeUndefined();
    const [command] = (await envelopes(reviewCommentEvent({ number: 3, inReplyTo: 70, body: '/feedback +1' }))) as Envelope[];
    expect(command!.replyRef).not.toHaveProperty('bareVote');
    // A vote that answers no thread is chatter.
    expect(await envelopes(reviewCommentEvent({ number: 3, body: '+1' }))).toEqual({ ignore: 'not a command' });
  });

  it('ignores a bot by its type even when its login has no [bot] suffix, and by its login even when typed User', async () => {
    // A machine user (a GitHub Enterprise service account, an old-style integration) is typed Bot with a plain login.
    const typed = issueCommentEvent({ number: 3, body: '/review', sender: 'deploy-robot', senderType: 'Bot' });
    expect(await envelopes(typed)).toEqual({ ignore: 'a comment by a bot' });
    const inThread = reviewCommentEvent({ number: 3, inReplyTo: 70, body: '/ask why?', sender: 'deploy-robot', senderType: 'Bot' });
    expect(await envelopes(inThread)).toEqual({ ignore: 'a comment by a bot' });
    const named = issueCommentEvent({ number: 3, body: '/review', sender: 'renovate[bot]', senderType: 'User' });
    expect(await envelopes(named)).toEqual({ ignore: 'a comment by a bot' });
    // The same comment from a person is answered.
    expect(await envelopes(issueCommentEvent({ number: 3, body: '/review', sender: 'deploy-robot', senderType: 'User' }))).toHaveLength(1);
  });

  it('refuses a delivery without its event or delivery id headers', async () => {
    const req = await raw(pullRequestEvent('opened', { number: 1, base: 'b', head: 'h' }));
    const headers = new Headers(req.headers);
    headers.delete('x-github-delivery');
    expect(() => normalizeGithub({ ...req, headers }, options)).toThrow(NormalizeError);
  });
});

describe('GitHub rate limits', () => {
  it('reads how long GitHub asks us to wait', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const error = (status: number, headers: Record<string, string>, message = '') => ({ status, message, response: { headers } });
    expect(rateLimitWait(error(403, { 'retry-after': '7' }), now)).toBe(7);
    expect(rateLimitWait(error(429, {}), now)).toBe(60);
    expect(rateLimitWait(error(403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(now.getTime() / 1000 + 30) }), now)).toBe(30);
    expect(rateLimitWait(error(403, {}, 'You have exceeded a secondary rate limit'), now)).toBe(60);
    expect(rateLimitWait(error(403, {}, 'Resource not accessible by integration'), now)).toBeUndefined();
    expect(rateLimitWait(error(422, { 'retry-after': '1' }), now)).toBeUndefined();
  });
});

describe('GitHub fixtures', () => {
  it('use the published payload shapes', () => {
    const { payload } = pullRequestEvent('opened', { number: 5, base: 'b', head: 'h' });
    expect(payload.repository.full_name).toBe(REPO.full_name);
    expect(payload.pull_request).toHaveProperty('diff_url');
  });
});
