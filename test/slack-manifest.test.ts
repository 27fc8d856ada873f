/** `npx switchboard slack manifest`, through the CLI's main. */
import { describe, expect, it } from 'vitest';
import { runCliInProcess as runCli } from './support/cli.ts';

describe('switchboard slack manifest', () => {
  it('prints an app manifest whose URLs all point at PUBLIC_URL/slack/events', async () => {
    const { code, output } = await runCli(['slack', 'manifest'], { PUBLIC_URL: 'https://sb.example.com/' });
    expect(code).toBe(0);
    const manifest = JSON.parse(output);
    const url = 'https://sb.example.com/slack/events';
    expect(manifest.features.slash_commands).toEqual([expect.objectContaining({ command: '/sb', url })]);
    expect(manifest.settings.event_subscriptions).toEqual({ request_url: url, bot_events: ['app_mention', 'message.im'] });
    expect(manifest.settings.interactivity).toEqual({ is_enabled: true, request_url: url });
    expect(manifest.oauth_config.scopes.bot).toEqual(
      expect.arrayContaining(['app_mentions:read', 'chat:write', 'commands', 'im:history', 'im:read', 'channels:history', 'groups:history', 'mpim:history']),
    );
    expect(manifest.features.app_home.messages_tab_enabled).toBe(true);
  });

  it('--socket prints a Socket Mode manifest: socket_mode_enabled, no Request URL anywhere, and no PUBLIC_URL needed', async () => {
    const { code, output } = await runCli(['slack', 'manifest', '--socket'], {});
    expect(code).toBe(0);
    const manifest = JSON.parse(output);
    expect(manifest.settings.socket_mode_enabled).toBe(true);
    expect(output).not.toMatch(/https?:\/\/|request_url|"url"/);
    expect(manifest.settings.event_subscriptions).toEqual({ bot_events: ['app_mention', 'message.im'] });
    expect(manifest.settings.interactivity).toEqual({ is_enabled: true });
    expect(manifest.features.slash_commands).toEqual([expect.objectContaining({ command: '/sb' })]);
    // The HTTP manifest keeps Socket Mode off.
    expect(JSON.parse((await runCli(['slack', 'manifest'], { PUBLIC_URL: 'https://sb.example.com' })).output).settings.socket_mode_enabled).toBe(false);
  });

  it('exits non-zero and says to set PUBLIC_URL when it is unset', async () => {
    const { code, output } = await runCli(['slack', 'manifest'], {});
    expect(code).not.toBe(0);
    expect(output).toMatch(/PUBLIC_URL is not set/);
    expect(output).toMatch(/slack manifest --socket/);
  });
});
