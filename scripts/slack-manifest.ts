/**
 * The Slack app manifest for this deployment: paste it at https://api.slack.com/apps → Create New App →
 * From a manifest. Printed by `npx switchboard slack manifest [--socket]`, or `node scripts/slack-manifest.ts [--socket]`.
 */
import { ConfigError, loadConfig } from '../src/config.ts';
import { CONSOLE_OUTPUT, type Output } from '../src/output.ts';

/** What the bot needs, and why. */
export const SLACK_BOT_SCOPES = [
  'app_mentions:read', // receive @mentions
  'chat:write', // reply in threads, update messages (placeholders, votes)
  'chat:write.public', // post routed webhook events to public channels the bot has not joined
  'commands', // the /sb slash command
  'im:history', // receive direct messages, and read DM threads (conversations.replies)
  'im:read',
  'channels:history', // read the threads the bot is mentioned in as conversation history (public channels)
  'groups:history', // … private channels it was invited to
  'mpim:history', // … and group DMs
];

export type ManifestOptions = { name?: string; command?: string };

/**
 * Where Slack delivers: `{ socket: true }` over a Socket Mode connection the app opens (no Request URLs at all), or
 * to the one Request URL under `publicUrl`, which takes events, the slash command and interactivity alike.
 */
export type ManifestTransport = { socket: true } | { publicUrl: string };

export function slackManifest(transport: ManifestTransport, opts: ManifestOptions = {}) {
  const name = opts.name ?? 'Switchboard';
  const command = opts.command ?? '/sb';
  const socket = 'socket' in transport;
  const requestUrl = socket ? undefined : `${transport.publicUrl.replace(/\/+$/, '')}/slack/events`;
  const at = (key: string) => (requestUrl ? { [key]: requestUrl } : {});
  return {
    _metadata: { major_version: 1, minor_version: 1 },
    display_information: {
      name,
      description: 'Chat-ops bot: ask, summarize, status, with 👍/👎 feedback',
      background_color: '#1d2b3a',
    },
    features: {
      // The Messages tab lets people DM the bot.
      app_home: { home_tab_enabled: false, messages_tab_enabled: true, messages_tab_read_only_enabled: false },
      bot_user: { display_name: name, always_online: true },
      slash_commands: [
        {
          command,
          ...at('url'),
          description: 'Ask Switchboard: help, ask …, summarize, status',
          usage_hint: 'help | ask <question> | summarize | status',
          should_escape: false,
        },
      ],
    },
    oauth_config: { scopes: { bot: SLACK_BOT_SCOPES } },
    settings: {
      event_subscriptions: { ...at('request_url'), bot_events: ['app_mention', 'message.im'] },
      interactivity: { is_enabled: true, ...at('request_url') },
      org_deploy_enabled: false,
      socket_mode_enabled: socket,
      token_rotation_enabled: false,
    },
  };
}

/**
 * Prints the manifest as JSON (Slack accepts JSON or YAML). Over HTTP it needs PUBLIC_URL: exit code 1 with what to
 * do when it is unset. With `socket` it needs nothing.
 */
export function printSlackManifest(publicUrl: string | undefined, opts: { socket?: boolean } = {}, io: Output = CONSOLE_OUTPUT): number {
  if (opts.socket) {
    io.out(JSON.stringify(slackManifest({ socket: true }), null, 2));
    return 0;
  }
  if (!publicUrl) {
    io.err(
      'PUBLIC_URL is not set: set it to the https address Slack can reach this server on, e.g.\n' +
        '  PUBLIC_URL=https://switchboard.example.com npx switchboard slack manifest\n' +
        'or, with no public address (a laptop), use Socket Mode: npx switchboard slack manifest --socket',
    );
    return 1;
  }
  if (!publicUrl.startsWith('https://')) io.err(`warning: Slack only accepts https Request URLs; PUBLIC_URL is ${publicUrl}`);
  io.out(JSON.stringify(slackManifest({ publicUrl }), null, 2));
  return 0;
}

if (import.meta.main) {
  try {
    process.exitCode = printSlackManifest(loadConfig().publicUrl, { socket: process.argv.includes('--socket') });
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : String(err));
    process.exitCode = 1;
  }
}
