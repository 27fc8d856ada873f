/**
 * GitHub's request → envelope step (channels/github/normalize.ts), field by field and refusal by refusal: the cases a one-character slip
 * (a dropped fallback, a `&&` for `||`, a message no one reads) would get past the channel tests. Real-shaped payloads go
 * straight into the normalize function. Fast on purpose: `npm run mutate` runs these once per mutant.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { executionMarker, markedExecution, normalizeGithub, type NormalizeOptions as GithubOptions } from '../channels/github/normalize.ts';
import { issueCommentEvent, pullRequestEvent, reviewCommentEvent } from './fixtures/github/events.ts';
import type { RawRequest } from '../src/ports.ts';
import { NOW, one, raw } from './support/normalize.ts';

describe('GitHub normalize, field by field', () => {
  const options: GithubOptions = { reviewDrafts: false, now: () => NOW };
  const request = (e: { event: string; payload: unknown }, id = 'delivery-7'): RawRequest => {
    const body = JSON.stringify(e.payload);
    return raw({ body, headers: { 'content-type': 'application/json', 'x-github-event': e.event, 'x-github-delivery': id } });
  };
  const normalize = (e: { event: string; payload: unknown }, opts = options) => normalizeGithub(request(e), opts);
  const ignored = (e: { event: string; payload: unknown }) => (normalize(e) as { ignore: string }).ignore;
  const pr = (action: Parameters<typeof pullRequestEvent>[0] = 'opened', o: Partial<Parameters<typeof pullRequestEvent>[1]> = {}) =>
    pullRequestEvent(action, { number: 42, base: 'b', head: 'h', ...o });
  const sha = (body: string) => `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const EXEC = '0f8fad5b-d9cb-469f-a165-70867728950e';

  it('marks its own comments with the execution that wrote them, and reads the mark back', () => {
    expect(executionMarker(EXEC)).toBe(`<!-- switchboard:execution=${EXEC} -->`);
    expect(markedExecution(`text\n${executionMarker(EXEC)}`)).toBe(EXEC);
    expect(markedExecution(null)).toBeUndefined();
    expect(markedExecution(undefined)).toBeUndefined();
    expect(markedExecution('<!-- switchboard:execution=short -->')).toBeUndefined();
  });

  it('builds the review envelope of a pull request: ids, dedup keys, names, facts and where to answer', () => {
    const e = pr('opened', { installationId: 9, title: 'Fix totals', sender: 'ann' });
    const req = request(e);
    expect(one(normalizeGithub(req, options))).toEqual({
      channel: 'github',
      deliveryId: 'delivery-7',
      contentKey: sha(new TextDecoder().decode(req.body)),
      tenantId: 'acme/shop',
      conversationKey: 'acme/shop#42',
      address: 'acme/shop#42',
      userId: 'ann',
      userName: 'ann',
      threadRef: { owner: 'acme', repo: 'shop', number: 42 },
      receivedAt: NOW.toISOString(),
      raw: e.payload,
      text: 'Review pull request acme/shop#42: Fix totals',
      agent: 'review',
      facts: {
        person: 'ann',
        places: ['acme/shop', 'acme/*'],
        automatic: true,
        ...(e.payload.pull_request.author_association === 'OWNER' ? { member: true } : {}),
      },
      replyRef: { kind: 'pull_request', owner: 'acme', repo: 'shop', number: 42, installationId: 9, action: 'opened' },
    });
    expect(one(normalize(pr('opened'))).replyRef).not.toHaveProperty('installationId');
  });

  it('reviews on every action that asks for one, an open pull request only, drafts when asked', () => {
    for (const action of ['opened', 'reopened', 'ready_for_review', 'synchronize'] as const) expect(one(normalize(pr(action))).agent).toBe('review');
    const closedButOpened = pr('opened');
    closedButOpened.payload.pull_request.state = 'closed';
    expect(ignored(closedButOpened)).toBe('the pull request is closed');
    expect(ignored(pr('opened', { draft: true }))).toBe('draft pull request (set GITHUB_REVIEW_DRAFTS=true to review drafts)');
    expect(one(normalize(pr('opened', { draft: true }), { ...options, reviewDrafts: true })).agent).toBe('review');
    const labeled = pr('opened');
    labeled.payload.action = 'labeled';
    expect(ignored(labeled)).toBe('pull_request.labeled does not ask for a review');
  });

  it('counts owners, members and collaborators as the repository’s people, and nobody else', () => {
    const facts = (association: string) => one(normalize(issueCommentEvent({ number: 3, body: '/ask x', association }))).facts;
    for (const association of ['OWNER', 'MEMBER', 'COLLABORATOR'])
      expect(facts(association)).toEqual({ person: 'octocat', places: ['acme/shop', 'acme/*'], member: true });
    for (const association of ['CONTRIBUTOR', 'NONE']) expect(facts(association)).toEqual({ person: 'octocat', places: ['acme/shop', 'acme/*'] });
  });

  it('builds the envelope of a command in a PR comment, trimmed, with the comment to react to', () => {
    const e = issueCommentEvent({ number: 3, id: 77, body: '  /Summarize please \n', installationId: 5 });
    expect(one(normalize(e))).toMatchObject({
      text: '/Summarize please',
      conversationKey: 'acme/shop#3',
      replyRef: { kind: 'issue_comment', owner: 'acme', repo: 'shop', number: 3, commentId: 77, installationId: 5 },
    });
    expect(one(normalize(e))).not.toHaveProperty('agent');
  });

  it('reads only the commands it knows, at the start of a comment, as whole words', () => {
    for (const body of ['/review', '/summarize', '/ask why', '/feedback +1', '/help', '/status', '/STATUS'])
      expect(one(normalize(issueCommentEvent({ number: 3, body }))).text).toBe(body);
    for (const body of ['/reviewer', 'please /review', '/deploy', '+1']) expect(ignored(issueCommentEvent({ number: 3, body })), body).toBe('not a command');
  });

  it('ignores comments that are edits, on issues, by bots or carrying its own mark', () => {
    const edited = issueCommentEvent({ number: 3, body: '/review' });
    edited.payload.action = 'edited';
    expect(ignored(edited)).toBe('issue_comment.edited');
    expect(ignored(issueCommentEvent({ number: 3, body: `/review\n${executionMarker(EXEC)}` }))).toBe('a comment by a bot');
    const review = reviewCommentEvent({ number: 3, body: '/review' });
    review.payload.action = 'deleted';
    expect(ignored(review)).toBe('pull_request_review_comment.deleted');
    expect(ignored(reviewCommentEvent({ number: 3, inReplyTo: 70, body: `+1 ${executionMarker(EXEC)}` }))).toBe('a comment by a bot');
    expect(ignored(reviewCommentEvent({ number: 3, inReplyTo: 70, body: '+1', sender: 'ci[bot]' }))).toBe('a comment by a bot');
    // A machine account typed Bot, whatever its login.
    expect(ignored(issueCommentEvent({ number: 3, body: '/review', sender: 'deployer', senderType: 'Bot' }))).toBe('a comment by a bot');
    const onIssue = issueCommentEvent({ number: 3, body: '/review' });
    delete (onIssue.payload.issue as Record<string, unknown>).pull_request;
    expect(ignored(onIssue)).toBe('a comment on an issue, not a pull request');
  });

  it('reads a bare vote only in a review thread, in each of its spellings', () => {
    for (const body of ['+1', '-1', '👍', '👎', ':+1:', ':-1:', '+1!', ' -1. ', '👍 !']) {
      const envelope = one(normalize(reviewCommentEvent({ number: 3, id: 80, inReplyTo: 70, body })));
      expect(envelope.text, body).toBe(body.trim());
      expect(envelope.replyRef).toMatchObject({ kind: 'review_comment', commentId: 80, threadId: 70, bareVote: true });
    }
    for (const body of ['+1 agreed', 'x+1', '+10']) expect(ignored(reviewCommentEvent({ number: 3, inReplyTo: 70, body })), body).toBe('not a command');
    // A comment that starts a thread answers nobody: its vote is chatter, its command is read, in its own thread.
    const top = reviewCommentEvent({ number: 3, id: 81, body: '/ask why?' });
    expect(one(normalize(top)).replyRef).toEqual({ kind: 'review_comment', owner: 'acme', repo: 'shop', number: 3, commentId: 81, threadId: 81 });
    const topVote = reviewCommentEvent({ number: 3, id: 83, body: '+1' });
    delete (topVote.payload.comment as Record<string, unknown>).in_reply_to_id;
    expect(ignored(topVote)).toBe('not a command');
    const nullReply = reviewCommentEvent({ number: 3, id: 82, body: '+1' });
    nullReply.payload.comment.in_reply_to_id = null;
    expect(ignored(nullReply)).toBe('not a command');
  });

  it('refuses a delivery without its headers, or whose body is no JSON object', () => {
    const e = pr();
    const without = (name: string) => {
      const req = request(e);
      req.headers.delete(name);
      return req;
    };
    expect(() => normalizeGithub(without('x-github-event'), options)).toThrow(
      expect.objectContaining({ code: 'missing_event', message: 'X-GitHub-Event header is required' }),
    );
    expect(() => normalizeGithub(without('x-github-delivery'), options)).toThrow(
      expect.objectContaining({ code: 'missing_delivery_id', message: 'X-GitHub-Delivery header is required: it is the deduplication key' }),
    );
    for (const payload of [null, [1], 5, '"x"']) {
      const req = request({ event: 'pull_request', payload });
      if (payload === '"x"') req.body = new TextEncoder().encode('{not json');
      expect(() => normalizeGithub(req, options)).toThrow(
        expect.objectContaining({
          code: 'malformed_json',
          message: 'GitHub webhook body must be a JSON object; set the webhook content type to application/json',
        }),
      );
    }
  });

  it('ignores pings, events without a repository or sender, and events it does not handle', () => {
    expect(ignored({ event: 'ping', payload: { zen: 'hi' } })).toBe('ping: the webhook is set up');
    const e = pr();
    expect(ignored({ event: 'pull_request', payload: { ...e.payload, repository: undefined } })).toBe('pull_request without a repository');
    expect(ignored({ event: 'pull_request', payload: { ...e.payload, sender: undefined } })).toBe('pull_request without a repository');
    expect(ignored({ event: 'push', payload: e.payload })).toBe('push events are not handled');
  });

  it('refuses a body that is not the event its header names, naming the first field that does not fit', () => {
    const mismatch = (event: string, payload: unknown) => {
      try {
        normalizeGithub(request({ event, payload }), options);
      } catch (err) {
        expect(err).toMatchObject({ code: 'event_mismatch' });
        return (err as Error).message;
      }
      return 'accepted';
    };
    const comment = issueCommentEvent({ number: 3, body: '/review' }).payload;
    expect(mismatch('pull_request', comment)).toBe('the body is not a pull_request event (X-GitHub-Event): expected pull_request (object)');
    const review = reviewCommentEvent({ number: 3, body: '/review' }).payload;
    expect(mismatch('pull_request', review)).toBe('the body is not a pull_request event (X-GitHub-Event): expected no comment field');
    const p = pr().payload;
    expect(mismatch('issue_comment', p)).toBe('the body is not a issue_comment event (X-GitHub-Event): expected issue (object)');
    expect(mismatch('pull_request_review_comment', p)).toBe('the body is not a pull_request_review_comment event (X-GitHub-Event): expected comment (object)');
    const field = (path: string, value: unknown, base: Record<string, any> = pr().payload, event = 'pull_request') => {
      const copy = structuredClone(base);
      const keys = path.split('.');
      keys.slice(0, -1).reduce((o, k) => o[k], copy)[keys.at(-1)!] = value;
      return mismatch(event, copy);
    };
    expect(field('pull_request.number', '42')).toMatch(/expected pull_request\.number \(number\)$/);
    expect(field('pull_request.state', null)).toMatch(/expected pull_request\.state \(string\)$/);
    expect(field('pull_request.title', 5)).toMatch(/expected pull_request\.title \(string\)$/);
    expect(field('action', 1)).toMatch(/expected action \(string\)$/);
    expect(field('pull_request', null)).toMatch(/expected pull_request \(object\)$/);
    expect(field('repository.full_name', 1)).toMatch(/expected repository\.full_name \(string\)$/);
    expect(field('repository.name', null)).toMatch(/expected repository\.name \(string\)$/);
    expect(field('repository.owner', 'acme')).toMatch(/expected repository\.owner\.login \(string\)$/);
    expect(field('repository.owner.login', 1)).toMatch(/expected repository\.owner\.login \(string\)$/);
    expect(field('repository.owner', null)).toMatch(/expected repository\.owner\.login \(string\)$/);
    expect(field('repository', 'acme/shop')).toMatch(/expected repository\.full_name \(string\)$/);
    expect(field('sender.login', 1)).toMatch(/expected sender\.login \(string\)$/);
    expect(field('sender.type', undefined)).toMatch(/expected sender\.type \(string\)$/);
    const ic = issueCommentEvent({ number: 3, body: '/review' }).payload;
    expect(field('issue.number', '3', ic, 'issue_comment')).toMatch(/expected issue\.number \(number\)$/);
    expect(field('comment.id', '1', ic, 'issue_comment')).toMatch(/expected comment\.id \(number\)$/);
    expect(field('comment.body', null, ic, 'issue_comment')).toMatch(/expected comment\.body \(string\)$/);
    expect(field('comment', null, ic, 'issue_comment')).toMatch(/expected comment \(object\)$/);
    const rc = reviewCommentEvent({ number: 3, body: '/review' }).payload;
    expect(field('pull_request.number', null, rc, 'pull_request_review_comment')).toMatch(/expected pull_request\.number \(number\)$/);
    expect(field('pull_request', 'x', rc, 'pull_request_review_comment')).toMatch(/expected pull_request \(object\)$/);
    expect(field('comment.id', null, rc, 'pull_request_review_comment')).toMatch(/expected comment\.id \(number\)$/);
    expect(field('comment.body', 1, rc, 'pull_request_review_comment')).toMatch(/expected comment\.body \(string\)$/);
    expect(field('action', null, rc, 'pull_request_review_comment')).toMatch(/expected action \(string\)$/);
    expect(field('action', null, ic, 'issue_comment')).toMatch(/expected action \(string\)$/);
  });
});
