/** The `github` channel: pull-request review and PR `/commands`, at `POST /github/webhook` (GitHub App or repository webhook). */
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import type { Config } from '../../src/config.ts';
import { RetryLaterError, type ChannelAdapter, type Logger } from '../../src/ports.ts';
import type { ReviewMemory } from '../../src/review/index.ts';
import { normalizeGithub, type GithubReplyRef } from './normalize.ts';
import { GITHUB_PROFILE } from './profile.ts';
import { createGithubReplier, githubTargetProblem } from './reply.ts';
import { verifyGithub } from './verify.ts';

export { executionMarker, markedExecution, normalizeGithub, REVIEW_ACTIONS } from './normalize.ts';
export type { GithubReplyRef, NormalizeOptions } from './normalize.ts';
export { createGithubReplier, githubTargetProblem, parseGithubTarget, reviewBody } from './reply.ts';
export { verifyGithub } from './verify.ts';

export type GithubAdapterOptions = {
  /** What code review remembers per pull request (the store): the review lease and the findings already made. */
  memory: ReviewMemory;
  logger?: Logger;
  now?: () => Date;
};

// An installation token lives an hour; one that expires within this margin is replaced before use.
const TOKEN_EXPIRY_MARGIN_MS = 5 * 60_000;

/**
 * The installation-token cache for @octokit/auth-app: an entry counts until shortly before the `expires_at` GitHub
 * gave it (the library's own cache keeps tokens a fixed 59 minutes by the machine's clock, whatever GitHub said).
 */
function tokenCache(now: () => Date) {
  const entries = new Map<string, string>();
  return {
    get(key: string): string {
      const value = entries.get(key);
      // The library stores `token|createdAt|expiresAt|…`.
      const expiresAt = Date.parse(value?.split('|')[2] ?? '');
      if (value && expiresAt - now().getTime() > TOKEN_EXPIRY_MARGIN_MS) return value;
      entries.delete(key);
      return undefined as unknown as string; // a miss: the library then asks GitHub for a new token
    },
    set(key: string, value: string) {
      entries.set(key, value);
    },
  };
}

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
  // Octokit logs every failed request at error level; the 422s and 404s we handle are not errors worth a line.
  const log = { debug() {}, info() {}, warn: (m: string) => opts.logger?.warn(m), error: (m: string) => opts.logger?.debug(m) };
  const common = { baseUrl: config.apiUrl.replace(/\/+$/, ''), userAgent: 'switchboard', log };

  /** A rate limit becomes RetryLaterError with GitHub's wait: the outbound step waits a short one out, the worker defers past a long one. */
  function honourRateLimits(octokit: Octokit): Octokit {
    octokit.hook.wrap('request', async (request, options) => {
      try {
        return await request(options);
      } catch (err) {
        const wait = rateLimitWait(err, now());
        if (wait === undefined) throw err;
        throw new RetryLaterError(wait * 1000, `GitHub rate-limited ${options.method} ${options.url}`, { cause: err });
      }
    });
    return octokit;
  }

  const token = config.token ? honourRateLimits(new Octokit({ ...common, auth: config.token })) : undefined;
  const appAuth = { appId: config.appId!, privateKey: config.privateKey!, cache: tokenCache(now) };
  // One client per installation; the token cache is shared and keeps each installation's token until it expires.
  const installations = new Map<number, Octokit>();
  function clientFor(ref: Pick<GithubReplyRef, 'installationId'>): Octokit {
    if (token) return token;
    const installationId = ref.installationId;
    if (!installationId) {
      throw new Error(
        'the event carries no App installation: with GITHUB_APP_ID, receive events through the App webhook, or set GITHUB_TOKEN for a repository webhook',
      );
    }
    let client = installations.get(installationId);
    if (!client) {
      client = honourRateLimits(new Octokit({ ...common, authStrategy: createAppAuth, auth: { ...appAuth, installationId } }));
      installations.set(installationId, client);
    }
    return client;
  }

  // As the App itself (a JWT), to find the installation on a repository a routing rule names, and the App's own name.
  let app: Octokit | undefined;
  const appClient = () => (app ??= honourRateLimits(new Octokit({ ...common, authStrategy: createAppAuth, auth: appAuth })));
  const repoInstallations = new Map<string, number>();
  async function clientForRepo(owner: string, repo: string): Promise<Octokit> {
    if (token) return token;
    const key = `${owner}/${repo}`.toLowerCase();
    let installationId = repoInstallations.get(key);
    if (installationId === undefined) {
      const app = appClient();
      try {
        installationId = (await app.apps.getRepoInstallation({ owner, repo })).data.id;
      } catch (err) {
        if ((err as { status?: number }).status !== 404) throw err;
        throw new Error(`the GitHub App ${config.appId} is not installed on ${owner}/${repo}: install it there, or route to a repository it is installed on`);
      }
      repoInstallations.set(key, installationId);
    }
    return clientFor({ installationId });
  }

  /**
   * The login the hub's own comments carry: `<app-slug>[bot]` for an App (GET /app), the token's own login for
   * GITHUB_TOKEN (GET /user). Asked once and kept; when GitHub will not say, undefined, asked again after a while.
   */
  let self: { login?: string; at: number } | undefined;
  async function ownLogin(): Promise<string | undefined> {
    if (self && (self.login !== undefined || now().getTime() - self.at < OWN_LOGIN_RETRY_MS)) return self.login;
    try {
      const login = token ? (await token.users.getAuthenticated()).data.login : (await appClient().apps.getAuthenticated()).data?.slug;
      if (!login) throw new Error('GitHub answered without a login or App slug');
      self = { login: token ? login : `${login}[bot]`, at: now().getTime() };
    } catch (err) {
      opts.logger?.warn(
        { err },
        token
          ? 'GitHub did not say whose GITHUB_TOKEN this is (GET /user): reactions are not counted as feedback until it does; use a token of a user or an App'
          : 'GitHub did not say which App this is (GET /app): reactions are not counted as feedback until it does; check GITHUB_APP_ID and GITHUB_PRIVATE_KEY',
      );
      self = { at: now().getTime() };
    }
    return self.login;
  }
  return { clientFor, clientForRepo, ownLogin };
}

// How long a failed look-up of the hub's own login stands before it is asked again.
const OWN_LOGIN_RETRY_MS = 5 * 60_000;

export function createGithubAdapter(config: Config['github'], opts: GithubAdapterOptions): ChannelAdapter {
  const now = opts.now ?? (() => new Date());
  const clients = createClients(config, opts);
  const replier = createGithubReplier({ ...clients, memory: opts.memory, logger: opts.logger });
  return {
    ...GITHUB_PROFILE,
    requiredEnv: config.requiredEnv,
    enabled: config.enabled,
    accepts: ['application/json'],
    verify: (req) => verifyGithub(req, config.webhookSecret),
    // From the payload alone: the webhook answers GitHub without calling it (what needs the API happens in prepare).
    normalize: (req) => normalizeGithub(req, { reviewDrafts: config.reviewDrafts, now }),
    // A comment on the pull request (a quota, a role); commenters refused for not belonging to it get no answer.
    async refuse(envelope, text) {
      const ref = envelope.replyRef as GithubReplyRef;
      await clients.clientFor(ref).issues.createComment({ owner: ref.owner, repo: ref.repo, issue_number: ref.number, body: `@${envelope.userId} ${text}` });
      return undefined;
    },
    prepare: replier.prepare,
    // No limits: a review or a comment is one API call whatever its length, so the reply goes whole, as one part.
    send: (envelope, _part, meta) => replier.reply(envelope, meta.reply, meta),
    postTo: (target, _part, meta) => replier.postTo(target, meta.reply, meta),
    validateTarget: githubTargetProblem,
  };
}
