/**
 * The GitHub App manifest for this deployment: register the App from it (docs/github.md says how), then set
 * GITHUB_APP_ID, GITHUB_PRIVATE_KEY and GITHUB_WEBHOOK_SECRET from what GitHub returns.
 * Printed by `npx switchboard github manifest`, or `node scripts/github-manifest.ts`.
 */
import { ConfigError, loadConfig } from '../src/config.ts';
import { CONSOLE_OUTPUT, type Output } from '../src/output.ts';

/** What the App may do, and why. */
export const GITHUB_PERMISSIONS = {
  pull_requests: 'write', // read PRs and diffs, post reviews and review-comment replies
  contents: 'read', // compare commits for incremental reviews
  issues: 'write', // answer /ask and /summarize as PR (issue) comments, add 👀 reactions
  metadata: 'read', // required by every App
} as const;

/** The events Switchboard handles. */
export const GITHUB_EVENTS = ['pull_request', 'issue_comment', 'pull_request_review_comment'] as const;

export function githubManifest(publicUrl: string, opts: { name?: string } = {}) {
  const base = publicUrl.replace(/\/+$/, '');
  return {
    name: opts.name ?? 'Switchboard',
    url: base,
    description: 'Code review with inline comments, and /review, /summarize, /ask on pull requests',
    hook_attributes: { url: `${base}/github/webhook`, active: true },
    public: false,
    default_permissions: GITHUB_PERMISSIONS,
    default_events: [...GITHUB_EVENTS],
  };
}

/** Prints the manifest as JSON; exit code 1 with what to do when PUBLIC_URL is unset. */
export function printGithubManifest(publicUrl: string | undefined, io: Output = CONSOLE_OUTPUT): number {
  if (!publicUrl) {
    io.err(
      'PUBLIC_URL is not set: set it to the https address GitHub can reach this server on, e.g.\n' +
        '  PUBLIC_URL=https://switchboard.example.com npx switchboard github manifest',
    );
    return 1;
  }
  if (!publicUrl.startsWith('https://')) io.err(`warning: GitHub delivers webhooks to public URLs; PUBLIC_URL is ${publicUrl}`);
  io.out(JSON.stringify(githubManifest(publicUrl), null, 2));
  return 0;
}

if (import.meta.main) {
  try {
    process.exitCode = printGithubManifest(loadConfig().publicUrl);
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : String(err));
    process.exitCode = 1;
  }
}
