/** Turns a verified GitHub webhook delivery into envelopes: pull-request reviews and `/commands` in PR comments. */
import { createHash } from 'node:crypto';
import type { EmitterWebhookEvent } from '@octokit/webhooks';
import { NormalizeError } from '../../src/ports.ts';
import type { RawRequest } from '../../src/ports.ts';
import type { AccessFacts, Envelope } from '../../src/types.ts';

type PullRequestEvent = EmitterWebhookEvent<'pull_request'>['payload'];
type IssueCommentEvent = EmitterWebhookEvent<'issue_comment'>['payload'];
type ReviewCommentEvent = EmitterWebhookEvent<'pull_request_review_comment'>['payload'];
type Sender = { login: string; type: string; id: number };

/** Pull-request actions that ask for a review (ARCHITECTURE §4). */
export const REVIEW_ACTIONS: ReadonlySet<string> = new Set(['opened', 'reopened', 'ready_for_review', 'synchronize']);

/** Where a reply goes: the PR itself (a review), an issue comment on it, or a review-comment thread. */
export type GithubReplyRef = {
  kind: 'pull_request' | 'issue_comment' | 'review_comment';
  owner: string;
  repo: string;
  number: number;
  /** The App installation that received the event; absent for repository webhooks with GITHUB_TOKEN. */
  installationId?: number;
  /** The comment that asked (for the 👀 reaction). */
  commentId?: number;
  /** The top comment of a review thread: replies go under it. */
  threadId?: number;
  /** The event's action, e.g. `synchronize`: whether a review may be incremental. */
  action?: string;
  /** A bare +1/-1 (not `/feedback`) in a review thread: feedback only if the hub started that thread. */
  bareVote?: boolean;
};

// Every comment the hub writes carries the execution that wrote it, so a reply or reaction can rate that execution.
const MARKER = /<!-- switchboard:execution=([0-9a-f-]{36}) -->/;

export function executionMarker(executionId: string): string {
  return `<!-- switchboard:execution=${executionId} -->`;
}

/** The execution id in a comment the hub wrote, if it is one. */
export function markedExecution(body: string | null | undefined): string | undefined {
  return MARKER.exec(body ?? '')?.[1];
}

const COMMAND = /^\/(review|summarize|ask|feedback|help|status)\b/i;
const VOTE = /^(\+1|-1|👍|👎|:\+1:|:-1:)[\s.!]*$/u;

export type NormalizeOptions = {
  reviewDrafts: boolean;
  now(): Date;
};

type Parsed = { event: string; deliveryId: string; contentKey: string; payload: Record<string, any> };

function parse(req: RawRequest): Parsed {
  const event = req.headers.get('x-github-event');
  const deliveryId = req.headers.get('x-github-delivery');
  if (!event) throw new NormalizeError('missing_event', 'X-GitHub-Event header is required');
  if (!deliveryId) throw new NormalizeError('missing_delivery_id', 'X-GitHub-Delivery header is required: it is the deduplication key');
  try {
    const payload = JSON.parse(new TextDecoder().decode(req.body)) as unknown;
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw new Error('not an object');
    // X-GitHub-Delivery is not signed, so the signed body itself is a second dedup key: the same body replayed under a
    // new delivery id (or redelivered from the App's Advanced page) does not run again.
    const contentKey = `sha256:${createHash('sha256').update(req.body).digest('hex')}`;
    return { event, deliveryId, contentKey, payload: payload as Record<string, any> };
  } catch {
    throw new NormalizeError('malformed_json', 'GitHub webhook body must be a JSON object; set the webhook content type to application/json');
  }
}

/** Bots (including this hub as an App) are never answered, and neither is anything carrying our own marker. */
function fromBot(sender: Sender, body: string | null | undefined): boolean {
  return sender.type === 'Bot' || sender.login.endsWith('[bot]') || markedExecution(body) !== undefined;
}

/** The fields every event we handle shares; `normalizeGithub` has checked `repository` and `sender` are there. */
type Common = { repository: { full_name: string; name: string; owner: { login: string } }; sender?: Sender; installation?: { id: number } };

// GitHub's author_association values for people who belong to the repository.
const MEMBERS = new Set(['OWNER', 'MEMBER', 'COLLABORATOR']);

/** Who wrote, for the access policy: the login, the repository (and its owner's `owner/*`), and the membership GitHub reports. */
function facts(payload: Common, association: string | undefined, automatic = false): AccessFacts {
  const { repository } = payload;
  return {
    person: payload.sender!.login,
    places: [repository.full_name, `${repository.owner.login}/*`],
    ...(association && MEMBERS.has(association) ? { member: true } : {}),
    ...(automatic ? { automatic } : {}),
  };
}

type Ids = Pick<Parsed, 'deliveryId' | 'contentKey'>;

function base(ids: Ids, payload: Common, number: number, now: () => Date) {
  const { repository } = payload;
  const sender = payload.sender!;
  return {
    channel: 'github' as const,
    deliveryId: ids.deliveryId,
    contentKey: ids.contentKey,
    tenantId: repository.full_name,
    conversationKey: `${repository.full_name}#${number}`,
    // A routing rule's GitHub target names a pull request the same way.
    address: `${repository.full_name}#${number}`,
    userId: sender.login,
    userName: sender.login,
    threadRef: { owner: repository.owner.login, repo: repository.name, number },
    receivedAt: now().toISOString(),
    raw: payload,
  };
}

function ref(payload: Common, number: number, extra: Partial<GithubReplyRef>): GithubReplyRef {
  const out: GithubReplyRef = { kind: 'pull_request', owner: payload.repository.owner.login, repo: payload.repository.name, number, ...extra };
  if (payload.installation?.id) out.installationId = payload.installation.id;
  return out;
}

function pullRequest(ids: Ids, p: PullRequestEvent, opts: NormalizeOptions): Envelope[] | { ignore: string } {
  if (!REVIEW_ACTIONS.has(p.action)) return { ignore: `pull_request.${p.action} does not ask for a review` };
  const pr = p.pull_request;
  if (pr.state !== 'open') return { ignore: 'the pull request is closed' };
  if (pr.draft && !opts.reviewDrafts) return { ignore: 'draft pull request (set GITHUB_REVIEW_DRAFTS=true to review drafts)' };
  return [
    {
      ...base(ids, p, pr.number, opts.now),
      text: `Review pull request ${p.repository.full_name}#${pr.number}: ${pr.title}`,
      agent: 'review',
      facts: facts(p, pr.author_association, true),
      replyRef: ref(p, pr.number, { kind: 'pull_request', action: p.action }),
    },
  ];
}

/** The command a comment starts with, or a bare vote when it answers one of our comments. */
function commandText(body: string, answersUs: boolean): string | undefined {
  const text = body.trim();
  if (COMMAND.test(text)) return text;
  if (answersUs && VOTE.test(text)) return text;
  return undefined;
}

function issueComment(ids: Ids, p: IssueCommentEvent, opts: NormalizeOptions): Envelope[] | { ignore: string } {
  if (p.action !== 'created') return { ignore: `issue_comment.${p.action}` };
  if (!p.issue.pull_request) return { ignore: 'a comment on an issue, not a pull request' };
  if (fromBot(p.sender, p.comment.body)) return { ignore: 'a comment by a bot' };
  const text = commandText(p.comment.body, false);
  if (!text) return { ignore: 'not a command' };
  return [
    {
      ...base(ids, p, p.issue.number, opts.now),
      text,
      facts: facts(p, p.comment.author_association),
      replyRef: ref(p, p.issue.number, { kind: 'issue_comment', commentId: p.comment.id }),
    },
  ];
}

/**
 * A command in a review comment, or a vote in a thread. Which execution a vote rates is read from the thread's top
 * comment by `prepare` on the worker: the webhook answers from the payload alone, without calling GitHub.
 */
function reviewComment(ids: Ids, p: ReviewCommentEvent, opts: NormalizeOptions): Envelope[] | { ignore: string } {
  if (p.action !== 'created') return { ignore: `pull_request_review_comment.${p.action}` };
  if (fromBot(p.sender, p.comment.body)) return { ignore: 'a comment by a bot' };
  const threadId = p.comment.in_reply_to_id ?? p.comment.id;
  const inThread = p.comment.in_reply_to_id !== undefined && p.comment.in_reply_to_id !== null;
  const text = commandText(p.comment.body, inThread);
  if (!text) return { ignore: 'not a command' };
  const replyRef = ref(p, p.pull_request.number, { kind: 'review_comment', commentId: p.comment.id, threadId });
  if (!COMMAND.test(text)) replyRef.bareVote = true;
  return [{ ...base(ids, p, p.pull_request.number, opts.now), text, facts: facts(p, p.comment.author_association), replyRef }];
}

// The fields each handled event must carry, with their types: a body that lacks them is not the event the
// X-GitHub-Event header names (a mismatched or forged header), and is refused before anything reads it.
const SHAPES: Record<string, Record<string, 'string' | 'number' | 'object'>> = {
  pull_request: { action: 'string', pull_request: 'object', 'pull_request.number': 'number', 'pull_request.state': 'string', 'pull_request.title': 'string' },
  issue_comment: { action: 'string', issue: 'object', 'issue.number': 'number', comment: 'object', 'comment.id': 'number', 'comment.body': 'string' },
  pull_request_review_comment: {
    action: 'string',
    pull_request: 'object',
    'pull_request.number': 'number',
    comment: 'object',
    'comment.id': 'number',
    'comment.body': 'string',
  },
};
const COMMON: Record<string, 'string' | 'object'> = {
  'repository.full_name': 'string',
  'repository.name': 'string',
  'repository.owner.login': 'string',
  'sender.login': 'string',
  'sender.type': 'string',
};

/** The first field of `shape` that `payload` lacks or holds with another type, as `path (type)`. */
function missingField(payload: Record<string, any>, shape: Record<string, string>): string | undefined {
  for (const [path, type] of Object.entries(shape)) {
    const value = path.split('.').reduce<any>((v, key) => (v !== null && typeof v === 'object' ? v[key] : undefined), payload);
    if (typeof value !== type || value === null) return `${path} (${type})`;
  }
  return undefined;
}

/** Parses and normalizes one delivery from its payload alone (no API call). Call only after `verifyGithub` accepted it. */
export function normalizeGithub(req: RawRequest, opts: NormalizeOptions): Envelope[] | { ignore: string } {
  const { event, ...parsed } = parse(req);
  const { payload } = parsed;
  if (event === 'ping') return { ignore: 'ping: the webhook is set up' };
  if (!payload.repository || !payload.sender) return { ignore: `${event} without a repository` };
  const shape = SHAPES[event];
  if (!shape) return { ignore: `${event} events are not handled` };
  let missing = missingField(payload, { ...COMMON, ...shape });
  // A review comment's body carries a pull_request too; only its `comment` tells it from a pull_request event.
  if (!missing && event === 'pull_request' && 'comment' in payload) missing = 'no comment field';
  if (missing) {
    throw new NormalizeError('event_mismatch', `the body is not a ${event} event (X-GitHub-Event): expected ${missing}`);
  }
  switch (event) {
    case 'pull_request':
      return pullRequest(parsed, payload as PullRequestEvent, opts);
    case 'issue_comment':
      return issueComment(parsed, payload as IssueCommentEvent, opts);
    default:
      return reviewComment(parsed, payload as ReviewCommentEvent, opts);
  }
}
