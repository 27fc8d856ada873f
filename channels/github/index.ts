/** The `github` channel: pull-request review and PR `/commands`, at `POST /github/webhook` (GitHub App or repository webhook). */
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import type { Config } from '../../src/config.ts';
import type { ChannelAdapter, FeedbackRecorder, Logger, ReviewMemory } from '../../src/ports.ts';
import { normalizeGithub, type GithubReplyRef } from './normalize.ts';
import { createGithubReplier } from './reply.ts';
import { verifyGithub } from './verify.ts';

export { executionMarker, markedExecution, normalizeGithub, REVIEW_ACTIONS } from './normalize.ts';
export type { GithubReplyRef, NormalizeOptions } from './normalize.ts';
export { createGithubReplier, DEFAULT_DIFF_TOKEN_BUDGET, fingerprint, planReview } from './reply.ts';
export type { ReviewPlan } from './reply.ts';
export { verifyGithub } from './verify.ts';

/** GitHub asked us to wait longer than one attempt may: the queue retries the execution later. */
export class GithubRateLimitedError extends Error {
  readonly code = 'github_rate_limited';
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number, what: string) {
    super(`GitHub rate-limited ${what}: retry after ${retryAfterSeconds} s`);
    this.name = 'GithubRateLimitedError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export type GithubAdapterOptions = {
  memory: ReviewMemory;
  feedback: FeedbackRecorder;
  logger?: Logger;
  now?: () => Date;
  /** Seconds one attempt may spend waiting out rate limits before the queue takes over (default 20). */
  maxRateLimitWaitSeconds?: number;
  sleep?(ms: number): Promise<void>;
  /** Estimated tokens of diff one review reads (default DEFAULT_DIFF_TOKEN_BUDGET). */
  diffTokenBudget?: number;
};

type ErrorLike = { status?: number; message?: string; response?: { headers?: Record<string, string | number | undefined> } };

/**
 * Seconds GitHub asks us to wait, when the error is a rate limit: 429, or 403 with `retry-after`, an exhausted
 * primary limit (`x-ratelimit-remaining: 0`, wait until `x-ratelimit-reset`), or a secondary-limit message (60 s,
 * GitHub's own advice when it gives no header).
 */
export function rateLimitWait(err: unknown, now: Date): number | undefined {
  const e = err as ErrorLike;
  if (e?.status !== 403 && e?.status !== 429) return undefined;
  const headers = e.response?.headers ?? {};
  const retryAfter = Number(headers['retry-after']);
  if (Number.isFinite(retryAfter) && retryAfter >= 0) return Math.max(1, Math.ceil(retryAfter));
  if (String(headers['x-ratelimit-remaining']) === '0') {
    const reset = Number(headers['x-ratelimit-reset']);
    if (Number.isFinite(reset)) return Math.max(1, Math.ceil(reset - now.getTime() / 1000));
  }
  if (e.status === 429 || /secondary rate limit/i.test(e.message ?? '')) return 60;
  return undefined;
}

function createClients(config: Config['github'], opts: GithubAdapterOptions) {
  const now = opts.now ?? (() => new Date());
  const maxWait = opts.maxRateLimitWaitSeconds ?? 20;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  // Octokit logs every failed request at error level; the 422s and 404s we handle are not errors worth a line.
  const log = { debug() {}, info() {}, warn: (m: string) => opts.logger?.warn(m), error: (m: string) => opts.logger?.debug(m) };
  const common = { baseUrl: config.apiUrl.replace(/\/+$/, ''), userAgent: 'switchboard', log };

  /** Short waits are honoured in place (the review continues); longer ones fail the attempt for the queue to retry. */
  function honourRateLimits(octokit: Octokit): Octokit {
    octokit.hook.wrap('request', async (request, options) => {
      let waited = 0;
      for (;;) {
        try {
          return await request(options);
        } catch (err) {
          const wait = rateLimitWait(err, now());
          if (wait === undefined) throw err;
          if (waited + wait > maxWait) throw new GithubRateLimitedError(wait, `${options.method} ${options.url}`);
          waited += wait;
          await sleep(wait * 1000);
        }
      }
    });
    return octokit;
  }

  const token = config.token ? honourRateLimits(new Octokit({ ...common, auth: config.token })) : undefined;
  // One client per installation: @octokit/auth-app caches its installation token until shortly before it expires.
  const installations = new Map<number, Octokit>();
  return function clientFor(ref: Pick<GithubReplyRef, 'installationId'>): Octokit {
    if (token) return token;
    const installationId = ref.installationId;
    if (!installationId) {
      throw new Error('the event carries no App installation: with GITHUB_APP_ID, receive events through the App webhook, or set GITHUB_TOKEN for a repository webhook');
    }
    let client = installations.get(installationId);
    if (!client) {
      client = honourRateLimits(
        new Octokit({ ...common, authStrategy: createAppAuth, auth: { appId: config.appId, privateKey: config.privateKey, installationId } }),
      );
      installations.set(installationId, client);
    }
    return client;
  };
}

export function createGithubAdapter(config: Config['github'], opts: GithubAdapterOptions): ChannelAdapter {
  const now = opts.now ?? (() => new Date());
  const clientFor = createClients(config, opts);
  const replier = createGithubReplier({ clientFor, memory: opts.memory, feedback: opts.feedback, logger: opts.logger, diffTokenBudget: opts.diffTokenBudget });
  return {
    channel: 'github',
    requiredEnv: config.requiredEnv,
    enabled: config.enabled,
    verify: (req) => verifyGithub(req, config.webhookSecret),
    normalize: (req) =>
      normalizeGithub(req, {
        reviewDrafts: config.reviewDrafts,
        now,
        async commentBody(ref, commentId) {
          try {
            const { data } = await clientFor(ref).pulls.getReviewComment({ owner: ref.owner, repo: ref.repo, comment_id: commentId });
            return data.body;
          } catch (err) {
            // Without it the vote rates the latest answer in the PR instead: better than refusing the event.
            opts.logger?.warn({ err, commentId }, 'could not read the review comment a reply answers');
            return undefined;
          }
        },
      }),
    prepare: replier.prepare,
    reply: replier.reply,
  };
}
