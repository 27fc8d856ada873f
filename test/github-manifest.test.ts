/** `npx switchboard github manifest`, through the CLI's main. */
import { describe, expect, it } from 'vitest';
import { runCliInProcess as runCli } from './support/cli.ts';

describe('switchboard github manifest', () => {
  it('prints a GitHub App manifest whose webhook points at PUBLIC_URL/github/webhook', async () => {
    const { code, output } = await runCli(['github', 'manifest'], { PUBLIC_URL: 'https://sb.example.com/' });
    expect(code).toBe(0);
    const manifest = JSON.parse(output);
    expect(manifest.hook_attributes).toEqual({ url: 'https://sb.example.com/github/webhook', active: true });
    expect(manifest.default_permissions).toMatchObject({ pull_requests: 'write', contents: 'read', issues: 'write' });
    expect(manifest.default_events).toEqual(['pull_request', 'issue_comment', 'pull_request_review_comment']);
    expect(manifest.url).toBe('https://sb.example.com');
  });

  it('exits non-zero and says to set PUBLIC_URL when it is unset', async () => {
    const { code, output } = await runCli(['github', 'manifest'], {});
    expect(code).not.toBe(0);
    expect(output).toMatch(/PUBLIC_URL is not set/);
  });
});
