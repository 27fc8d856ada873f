/**
 * GitHub's REST API for tests, on 127.0.0.1:<random port>, reached by the real Octokit through GITHUB_API_URL.
 * Like GitHub it answers 422 to a review whose inline comment is not on a line of the pull request's diff at the
 * reviewed commit (or whose `start_line` range leaves one hunk, or that uses the deprecated `position`) and to a body
 * over 65,536 characters, checks App JWTs before issuing installation tokens, and can answer with secondary rate
 * limits. It records reviews, comments and reactions.
 */
import { createPublicKey, verify as verifySignature } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export type FakeFile = {
  filename: string;
  status: 'added' | 'modified' | 'removed' | 'renamed';
  patch?: string;
  additions?: number;
  previous_filename?: string;
};
export type FakePull = { number: number; title: string; body: string; author: string; draft: boolean; state: 'open' | 'closed'; base: string; head: string };
export type FakeReview = { id: number; repo: string; pr: number; commit_id: string; event: string; body: string; comments: Record<string, any>[] };
export type FakeComment = {
  id: number;
  repo: string;
  pr: number;
  body: string;
  kind: 'issue' | 'review';
  in_reply_to_id?: number;
  path?: string;
  line?: number;
  login: string;
  created_at: string;
};
export type FakeReaction = { target: 'issue' | 'issue_comment' | 'review_comment'; repo: string; id: number; content: string; login: string };
export type FakeRequest = { method: string; path: string; authorization?: string; status: number };

export type FakeGithub = {
  apiUrl: string;
  requests: FakeRequest[];
  reviews: FakeReview[];
  comments: FakeComment[];
  reactions: FakeReaction[];
  /** Installation tokens issued, with the App id of the JWT that asked. */
  tokens: { installationId: number; appId: string; token: string; expiresAt: string }[];
  setPull(repo: string, pull: Partial<FakePull> & Pick<FakePull, 'number' | 'base' | 'head'>): void;
  /** What `GET /repos/{repo}/compare/{base}...{head}` answers; a pull's own diff is `${pull.base}...${head}`. */
  setDiff(repo: string, basehead: string, files: FakeFile[], status?: 'ahead' | 'diverged' | 'identical'): void;
  /** The next `times` reviews that carry inline comments are refused with 422, as if GitHub read the diff differently. */
  rejectInlineComments(times?: number): void;
  /** The next `times` requests whose path matches answer 403 "secondary rate limit" with Retry-After. */
  rateLimit(path: RegExp, retryAfterSeconds: number, times?: number): void;
  /**
   * Enables App authentication: installation tokens are issued only for JWTs signed with this key's pair, each
   * expiring `tokenLifetimeSeconds` after `now()` (GitHub: an hour); `installations` maps `owner/repo` to the
   * installation `GET /repos/{owner}/{repo}/installation` answers.
   */
  enableApp(appId: string, publicKeyPem: string, opts?: { tokenLifetimeSeconds?: number; now?: () => Date; installations?: Record<string, number> }): void;
  /** Each review POST waits this long before GitHub answers (as a large review does), widening races in tests. */
  slowReviews(ms: number): void;
  /** A comment a person (or bot) wrote on the pull request, as GitHub would list it. */
  addComment(comment: Omit<FakeComment, 'id' | 'created_at'>): FakeComment;
  /** A person's reaction on a comment (GitHub sends no webhook for these). */
  react(target: FakeReaction['target'], id: number, content: string, login: string): void;
  /** Answers every request made with this token 401 Bad credentials, as GitHub does for a revoked one. */
  revokeToken(token: string): void;
  /** What GET /user sends as `x-oauth-scopes` (a classic token's scopes; undefined: none, like a fine-grained token). */
  scopes: string | undefined;
  close(): Promise<void>;
};

/** New-side lines (RIGHT) and old-side deleted lines (LEFT) of a patch, each with its hunk, read independently of src/diff.ts. */
function diffLines(patch: string): { right: Map<number, number>; left: Map<number, number> } {
  const right = new Map<number, number>();
  const left = new Map<number, number>();
  let oldLine = 0;
  let newLine = 0;
  let hunk = -1;
  for (const line of patch.replace(/\n$/, '').split('\n')) {
    const header = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line);
    if (header) {
      oldLine = Number(header[1]);
      newLine = Number(header[2]);
      hunk++;
    } else if (line.startsWith('+')) right.set(newLine++, hunk);
    else if (line.startsWith('-')) left.set(oldLine++, hunk);
    else if (line.startsWith(' ') || line === '') {
      right.set(newLine++, hunk);
      oldLine++;
    }
  }
  return { right, left };
}

/** Who the hub is on this fake: the author of every comment and reaction it writes, as GET /user or GET /app say. */
export const SELF = 'switchboard[bot]';

// GitHub's limit on a review, comment or issue-comment body.
const MAX_BODY = 65_536;
const tooLong = (body: unknown) => typeof body === 'string' && body.length > MAX_BODY;

async function readJson(req: IncomingMessage): Promise<Record<string, any>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  return raw ? JSON.parse(raw) : {};
}

function verifyJwt(token: string, publicKeyPem: string): Record<string, any> | undefined {
  const [header, payload, signature] = token.split('.');
  if (!header || !payload || !signature) return undefined;
  const ok = verifySignature('RSA-SHA256', Buffer.from(`${header}.${payload}`), createPublicKey(publicKeyPem), Buffer.from(signature, 'base64url'));
  return ok ? JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) : undefined;
}

export async function startFakeGithub(): Promise<FakeGithub> {
  const pulls = new Map<string, FakePull>();
  const diffs = new Map<string, { status: string; files: FakeFile[] }>();
  const limits: { path: RegExp; retryAfter: number; times: number }[] = [];
  let rejectInline = 0;
  let app: { appId: string; publicKey: string; lifetime: number; now: () => Date; installations: Record<string, number> } | undefined;
  let reviewDelay = 0;
  let seq = 1000;
  const revoked = new Set<string>();
  let scopes: string | undefined = 'repo, read:org';
  const state = {
    requests: [] as FakeRequest[],
    reviews: [] as FakeReview[],
    comments: [] as FakeComment[],
    reactions: [] as FakeReaction[],
    tokens: [] as FakeGithub['tokens'],
  };

  const reactionSummary = (target: FakeReaction['target'], repo: string, id: number) => {
    const mine = state.reactions.filter((r) => r.target === target && r.repo === repo && r.id === id);
    return { '+1': mine.filter((r) => r.content === '+1').length, '-1': mine.filter((r) => r.content === '-1').length, total_count: mine.length };
  };
  const commentJson = (c: FakeComment) => ({
    id: c.id,
    body: c.body,
    created_at: c.created_at,
    user: { login: c.login, type: c.login.endsWith('[bot]') ? 'Bot' : 'User' },
    ...(c.kind === 'review' ? { path: c.path, line: c.line, in_reply_to_id: c.in_reply_to_id, pull_request_review_id: 1 } : {}),
    reactions: reactionSummary(c.kind === 'review' ? 'review_comment' : 'issue_comment', c.repo, c.id),
  });

  // Comments are listed in the order they were made, a second apart, as GitHub's timestamps would order them.
  let clock = Date.parse('2026-01-01T10:00:00Z');
  const stamp = () => new Date((clock += 1000)).toISOString();

  function route(
    method: string,
    path: string,
    query: URLSearchParams,
    body: Record<string, any>,
    auth: string | undefined,
  ): [number, unknown, Record<string, string>?] {
    let m: RegExpExecArray | null;
    if (auth?.startsWith('token ') && revoked.has(auth.slice(6)))
      return [401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' }];
    if (method === 'GET' && path === '/app/installations') {
      const claims = app && auth?.startsWith('bearer ') ? verifyJwt(auth.slice(7), app.publicKey) : undefined;
      if (!app || !claims) return [401, { message: 'A JSON web token could not be decoded' }];
      const owners = new Map(Object.entries(app.installations).map(([repo, id]) => [id, repo.split('/')[0]!]));
      return [
        200,
        [...owners].map(([id, login]) => ({ id, app_id: Number(app!.appId), account: { login, type: 'Organization' }, target_type: 'Organization' })),
      ];
    }
    if (method === 'POST' && (m = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(path))) {
      if (!app) return [404, { message: 'Not Found' }];
      const claims = auth?.startsWith('bearer ') ? verifyJwt(auth.slice(7), app.publicKey) : undefined;
      if (!claims || String(claims.iss) !== app.appId) return [401, { message: 'A JSON web token could not be decoded' }];
      const token = `ghs_installation_${m[1]}_${state.tokens.length + 1}`;
      const expiresAt = new Date(app.now().getTime() + app.lifetime * 1000).toISOString();
      state.tokens.push({ installationId: Number(m[1]), appId: String(claims.iss), token, expiresAt });
      return [201, { token, expires_at: expiresAt, permissions: {}, repository_selection: 'all' }];
    }
    if (method === 'GET' && (m = /^\/repos\/([^/]+\/[^/]+)\/installation$/.exec(path))) {
      const claims = app && auth?.startsWith('bearer ') ? verifyJwt(auth.slice(7), app.publicKey) : undefined;
      if (!app || !claims) return [401, { message: 'A JSON web token could not be decoded' }];
      const id = app.installations[m[1]!];
      return id ? [200, { id, app_id: Number(app.appId), account: { login: m[1]!.split('/')[0] } }] : [404, { message: 'Not Found' }];
    }
    if (method === 'GET' && path === '/app') {
      // The App itself, asked with its JWT: its comments are by `<slug>[bot]`.
      const claims = app && auth?.startsWith('bearer ') ? verifyJwt(auth.slice(7), app.publicKey) : undefined;
      if (!app || !claims) return [401, { message: 'A JSON web token could not be decoded' }];
      return [200, { id: Number(app.appId), slug: SELF.replace(/\[bot\]$/, ''), name: 'Switchboard' }];
    }
    if (method === 'GET' && path === '/user') {
      // With a token: its own login, which the comments it writes carry. An installation token has no user.
      if (app) return [403, { message: 'Resource not accessible by integration' }];
      return [200, { login: SELF, id: 1, type: 'Bot' }, scopes === undefined ? {} : { 'x-oauth-scopes': scopes }];
    }
    if (app) {
      // Like GitHub: only a token it issued, and only until it expires.
      const issued = state.tokens.find((t) => `token ${t.token}` === auth);
      if (!issued || Date.parse(issued.expiresAt) <= app.now().getTime()) return [401, { message: 'Bad credentials' }];
    }
    if (!(m = /^\/repos\/([^/]+\/[^/]+)(\/.*)$/.exec(path))) return [404, { message: 'Not Found' }];
    const repo = m[1]!;
    const rest = m[2]!;
    const pull = (n: string) => pulls.get(`${repo}#${n}`);

    if (method === 'GET' && (m = /^\/pulls\/(\d+)$/.exec(rest))) {
      const p = pull(m[1]!);
      if (!p) return [404, { message: 'Not Found' }];
      const files = diffs.get(`${repo}:${p.base}...${p.head}`)?.files ?? [];
      return [
        200,
        {
          number: p.number,
          title: p.title,
          body: p.body,
          user: { login: p.author, type: 'User' },
          created_at: '2026-01-01T09:00:00Z',
          draft: p.draft,
          state: p.state,
          changed_files: files.length,
          head: { sha: p.head, ref: 'feature' },
          base: { sha: p.base, ref: 'main' },
        },
      ];
    }
    if (method === 'GET' && (m = /^\/pulls\/(\d+)\/files$/.exec(rest))) {
      const p = pull(m[1]!);
      if (!p) return [404, { message: 'Not Found' }];
      const files = diffs.get(`${repo}:${p.base}...${p.head}`)?.files ?? [];
      const perPage = Number(query.get('per_page') ?? 30);
      const page = Number(query.get('page') ?? 1);
      return [200, files.slice((page - 1) * perPage, page * perPage).map((f) => ({ filename: f.filename, status: f.status, patch: f.patch }))];
    }
    if (method === 'GET' && (m = /^\/compare\/(.+)$/.exec(rest))) {
      const diff = diffs.get(`${repo}:${decodeURIComponent(m[1]!)}`);
      if (!diff) return [404, { message: 'Not Found' }];
      return [
        200,
        {
          status: diff.status,
          files: diff.files.map((f) => ({ additions: (f.patch?.match(/^\+/gm) ?? []).length, deletions: (f.patch?.match(/^-/gm) ?? []).length, ...f })),
        },
      ];
    }
    if ((m = /^\/pulls\/(\d+)\/reviews$/.exec(rest))) {
      const n = Number(m[1]);
      if (method === 'GET')
        return [200, state.reviews.filter((r) => r.repo === repo && r.pr === n).map((r) => ({ id: r.id, body: r.body, commit_id: r.commit_id }))];
      const p = pull(m[1]!);
      if (!p) return [404, { message: 'Not Found' }];
      const diff = diffs.get(`${repo}:${p.base}...${body.commit_id}`);
      if (!diff) return [422, { message: 'Unprocessable Entity', errors: [`No commit found for SHA: ${body.commit_id}`] }];
      const comments: Record<string, any>[] = body.comments ?? [];
      if (tooLong(body.body) || comments.some((c) => tooLong(c.body)))
        return [422, { message: 'Unprocessable Entity', errors: [`body is too long (maximum is ${MAX_BODY} characters)`] }];
      if (comments.length && rejectInline > 0) {
        rejectInline--;
        return [422, { message: 'Unprocessable Entity', errors: ['Line could not be resolved'] }];
      }
      for (const c of comments) {
        if (c.position !== undefined) return [422, { message: 'Unprocessable Entity', errors: ['position is deprecated here; use line'] }];
        const file = diff.files.find((f) => f.filename === c.path);
        const lines = file?.patch ? diffLines(file.patch) : undefined;
        const side = c.side === 'LEFT' ? lines?.left : lines?.right;
        if (!side?.has(c.line)) return [422, { message: 'Unprocessable Entity', errors: ['Line could not be resolved'] }];
        if (c.start_line !== undefined) {
          const startSide = c.start_side === 'LEFT' ? lines?.left : lines?.right;
          if (!(c.start_line < c.line) || startSide?.get(c.start_line) !== side.get(c.line)) {
            return [422, { message: 'Unprocessable Entity', errors: ['start_line must be before line, in the same hunk'] }];
          }
        }
      }
      const review: FakeReview = { id: ++seq, repo, pr: n, commit_id: body.commit_id, event: body.event, body: body.body ?? '', comments };
      state.reviews.push(review);
      for (const c of comments)
        state.comments.push({ id: ++seq, repo, pr: n, body: c.body, kind: 'review', path: c.path, line: c.line, login: SELF, created_at: stamp() });
      return [200, { id: review.id, body: review.body, commit_id: review.commit_id, state: 'COMMENTED' }];
    }
    if ((m = /^\/issues\/(\d+)\/comments$/.exec(rest))) {
      const n = Number(m[1]);
      if (method === 'GET') return [200, state.comments.filter((c) => c.repo === repo && c.pr === n && c.kind === 'issue').map(commentJson)];
      if (tooLong(body.body)) return [422, { message: 'Validation Failed', errors: [`body is too long (maximum is ${MAX_BODY} characters)`] }];
      const comment: FakeComment = { id: ++seq, repo, pr: n, body: body.body, kind: 'issue', login: SELF, created_at: stamp() };
      state.comments.push(comment);
      return [201, commentJson(comment)];
    }
    if (method === 'GET' && (m = /^\/pulls\/(\d+)\/comments$/.exec(rest))) {
      return [200, state.comments.filter((c) => c.repo === repo && c.pr === Number(m![1]) && c.kind === 'review').map(commentJson)];
    }
    if (method === 'POST' && (m = /^\/pulls\/(\d+)\/comments\/(\d+)\/replies$/.exec(rest))) {
      const parent = state.comments.find((c) => c.id === Number(m![2]) && c.kind === 'review');
      if (!parent) return [404, { message: 'Not Found' }];
      const comment: FakeComment = {
        id: ++seq,
        repo,
        pr: Number(m[1]),
        body: body.body,
        kind: 'review',
        in_reply_to_id: parent.id,
        path: parent.path,
        line: parent.line,
        login: SELF,
        created_at: stamp(),
      };
      state.comments.push(comment);
      return [201, commentJson(comment)];
    }
    if (method === 'GET' && (m = /^\/pulls\/comments\/(\d+)$/.exec(rest))) {
      const c = state.comments.find((x) => x.id === Number(m![1]) && x.kind === 'review');
      return c ? [200, commentJson(c)] : [404, { message: 'Not Found' }];
    }
    if ((m = /^\/(issues|issues\/comments|pulls\/comments)\/(\d+)\/reactions$/.exec(rest))) {
      const target = ({ issues: 'issue', 'issues/comments': 'issue_comment', 'pulls/comments': 'review_comment' } as const)[m[1] as 'issues'];
      const id = Number(m[2]);
      if (method === 'GET') {
        return [
          200,
          state.reactions
            .filter((r) => r.target === target && r.repo === repo && r.id === id)
            .map((r) => ({ content: r.content, user: { login: r.login, type: r.login.endsWith('[bot]') ? 'Bot' : 'User' } })),
        ];
      }
      state.reactions.push({ target, repo, id, content: body.content, login: SELF });
      return [201, { id: ++seq, content: body.content }];
    }
    return [404, { message: `Not Found (fake GitHub has no ${method} ${path})` }];
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const body = method === 'GET' ? {} : await readJson(req);
    const authorization = req.headers.authorization?.toLowerCase().startsWith('bearer ')
      ? `bearer ${req.headers.authorization.slice(7)}`
      : req.headers.authorization;
    const limit = limits.find((l) => l.times > 0 && l.path.test(url.pathname));
    let status: number;
    let payload: unknown;
    let headers: Record<string, string> = {};
    if (limit) {
      limit.times--;
      [status, payload, headers] = [
        403,
        { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' },
        { 'retry-after': String(limit.retryAfter) },
      ];
    } else {
      if (reviewDelay && method === 'POST' && /\/pulls\/\d+\/reviews$/.test(url.pathname)) await new Promise((r) => setTimeout(r, reviewDelay));
      [status, payload, headers = {}] = route(method, url.pathname, url.searchParams, body, authorization);
    }
    state.requests.push({ method, path: url.pathname, authorization: req.headers.authorization, status });
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(payload));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: String(err) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    apiUrl: `http://127.0.0.1:${port}`,
    ...state,
    setPull(repo, p) {
      pulls.set(`${repo}#${p.number}`, { title: 'A change', body: '', author: 'octocat', draft: false, state: 'open', ...p });
    },
    setDiff(repo, basehead, files, status = 'ahead') {
      diffs.set(`${repo}:${basehead}`, { status, files });
    },
    rejectInlineComments(times = 1) {
      rejectInline = times;
    },
    rateLimit(path, retryAfterSeconds, times = 1) {
      limits.push({ path, retryAfter: retryAfterSeconds, times });
    },
    enableApp(appId, publicKeyPem, opts = {}) {
      app = {
        appId,
        publicKey: publicKeyPem,
        lifetime: opts.tokenLifetimeSeconds ?? 3600,
        now: opts.now ?? (() => new Date()),
        installations: opts.installations ?? {},
      };
    },
    slowReviews(ms) {
      reviewDelay = ms;
    },
    addComment(comment) {
      const added: FakeComment = { ...comment, id: ++seq, created_at: stamp() };
      state.comments.push(added);
      return added;
    },
    react(target, id, content, login) {
      const comment = state.comments.find((c) => c.id === id);
      state.reactions.push({ target, repo: comment?.repo ?? '', id, content, login });
    },
    revokeToken: (token) => void revoked.add(token),
    get scopes() {
      return scopes;
    },
    set scopes(value) {
      scopes = value;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
