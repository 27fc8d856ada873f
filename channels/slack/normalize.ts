/**
 * Slack's three request shapes on one Request URL → envelopes: Events API (JSON), slash commands (form) and
 * interactivity (form with a `payload` JSON field). Everything we do not answer comes back as `ignore`.
 */
import type { BlockAction, ButtonAction, EnvelopedEvent, SlashCommand, types } from '@slack/bolt';
import { NormalizeError } from '../../src/ports.ts';
import { jsonDepthExceeds, MAX_JSON_DEPTH } from '../../src/sanitize.ts';
import type { RawRequest } from '../../src/ports.ts';
import type { Envelope } from '../../src/types.ts';

/** Where a reply goes; stored with the envelope, so it is plain JSON. */
export type SlackReplyRef =
  | { kind: 'thread'; channel: string; threadTs: string }
  | { kind: 'command'; channel: string; responseUrl: string }
  /**
   * A 👍/👎 click: the rated message is rewritten to show the vote, with chat.update when it is a message the bot
   * posted, else (`via: 'response_url'`: an ephemeral or slash-command answer, which chat.update cannot edit) through
   * the interaction's response_url.
   */
  | { kind: 'vote'; channel: string; ts: string; userId: string; score: 1 | -1; responseUrl: string; text: string; blocks: unknown[]; via?: 'response_url' };

/** Where a thread message sits: its thread and its own ts, so the thread's earlier messages can be loaded. */
export type SlackThreadRef = { channel: string; threadTs: string; messageTs?: string };

/** The bot's own ids, so its messages are never answered and its mention is stripped. */
export type BotIdentity = { userId?: string; botId?: string };

export type NormalizeOptions = { now(): Date; identity(): Promise<BotIdentity> };

export type Normalized = Envelope[] | { ignore: string };

export const FEEDBACK_BLOCK_ID = 'sb_feedback';
export const FEEDBACK_ACTIONS: Record<string, 1 | -1> = { sb_feedback_up: 1, sb_feedback_down: -1 };

// Subtypes that are still a person writing; edits, deletions, joins and bot posts are not.
const USER_SUBTYPES = new Set(['file_share', 'thread_broadcast']);

type MessageLike = (types.AppMentionEvent | types.GenericMessageEvent) & { subtype?: string; channel_type?: string };
type SlackEventBody = EnvelopedEvent<{ type: string } & Record<string, unknown>>;

const text = (req: RawRequest) => new TextDecoder().decode(req.body);
const mediaType = (req: RawRequest) => (req.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();

function parseJson(raw: string, what: string): any {
  // The interactivity payload is JSON inside a form field, so the route's depth check on JSON bodies does not see it.
  if (jsonDepthExceeds(raw)) throw new NormalizeError('too_deep', `${what} is nested more than ${MAX_JSON_DEPTH} levels deep`);
  try {
    return JSON.parse(raw);
  } catch {
    throw new NormalizeError('malformed_json', `${what} is not valid JSON`);
  }
}

/** The challenge of a `url_verification` handshake, or undefined for every other request. Call after `verify`. */
export function urlVerificationChallenge(req: RawRequest): string | undefined {
  if (mediaType(req) !== 'application/json') return undefined;
  const body = parseJson(text(req), 'the Events API body');
  return body?.type === 'url_verification' && typeof body.challenge === 'string' ? body.challenge : undefined;
}

export async function normalizeSlack(req: RawRequest, opts: NormalizeOptions): Promise<Normalized> {
  const media = mediaType(req);
  if (media === 'application/json') {
    const body = parseJson(text(req), 'the Events API body');
    if (body?.type === 'event_callback' && body.event && typeof body.event === 'object') return fromEvent(body, opts);
    return { ignore: `Events API request of type ${String(body?.type)}` };
  }
  if (media !== 'application/x-www-form-urlencoded') {
    throw new NormalizeError('unsupported_media_type', 'Slack sends application/json or application/x-www-form-urlencoded', 415);
  }
  const form = new URLSearchParams(text(req));
  const payload = form.get('payload');
  if (payload !== null) return fromInteraction(parseJson(payload, 'the interactivity payload'), opts);
  if (form.has('command')) return fromCommand(Object.fromEntries(form) as SlashCommand, opts);
  throw new NormalizeError('invalid_request', 'a form body must be a slash command (command=…) or an interaction (payload=…)');
}

function required(fields: Record<string, unknown>, names: string[], what: string): void {
  const missing = names.filter((n) => typeof fields[n] !== 'string' || fields[n] === '');
  if (missing.length) throw new NormalizeError('invalid_request', `${what} is missing ${missing.join(', ')}`);
}

/** Removes mentions of the bot itself (`<@U123>` or `<@U123|name>`); other people's mentions stay. */
export function stripMention(raw: string, botUserIds: Set<string>): string {
  const stripped = botUserIds.size
    ? raw.replace(/<@([A-Z0-9]+)(?:\|[^>]*)?>/gi, (m, id: string) => (botUserIds.has(id) ? '' : m))
    : raw.replace(/^\s*<@[A-Z0-9]+(?:\|[^>]*)?>/i, '');
  return stripped.replace(/[ \t]{2,}/g, ' ').trim();
}

async function fromEvent(body: SlackEventBody, opts: NormalizeOptions): Promise<Normalized> {
  const type = String(body.event.type);
  if (type !== 'app_mention' && type !== 'message') return { ignore: `event ${type} is not handled` };
  const event = body.event as unknown as MessageLike;
  // With message.channels subscribed too, a mention would arrive twice; mentions come as app_mention, DMs as message.im.
  if (event.type === 'message' && event.channel_type !== 'im')
    return { ignore: `message in a ${String(event.channel_type)} (only DMs and mentions are answered)` };
  if (event.subtype && !USER_SUBTYPES.has(event.subtype)) return { ignore: `message subtype ${event.subtype}` };
  if (event.bot_id) return { ignore: 'message from a bot' };
  if (!event.user) return { ignore: 'message without a user' };

  // `authorizations` names the installation's bot user; auth.test is the fallback when an event lacks it.
  const own = new Set((body.authorizations ?? []).filter((a) => a.is_bot).map((a) => a.user_id));
  if (!own.size) {
    const identity = await opts.identity();
    if (identity.userId) own.add(identity.userId);
  }
  if (own.has(event.user)) return { ignore: 'message from this app itself' };

  required(body, ['event_id', 'team_id'], 'the event callback');
  required(event as unknown as Record<string, unknown>, ['channel', 'ts'], 'the event');
  const team = body.team_id;
  const threadTs = event.thread_ts ?? event.ts;
  // In a Slack Connect channel, people of another organisation write too: their own team is not the installation's.
  const home = new Set([team, ...(body.authorizations ?? []).map((a) => a.team_id).filter(Boolean)]);
  const userTeam = (event as { user_team?: string }).user_team ?? (event as { team?: string }).team;
  return [
    {
      channel: 'slack',
      // Slack's retries (x-slack-retry-num) repeat the event_id, so the pipeline stores the event once.
      deliveryId: body.event_id,
      tenantId: team,
      // The thread is the conversation: its earlier messages are the history agents see.
      conversationKey: `${team}:${event.channel}:${threadTs}`,
      address: event.channel,
      userId: event.user,
      ...(event.type === 'app_mention' && event.user_profile?.display_name ? { userName: event.user_profile.display_name } : {}),
      text: stripMention(event.text ?? '', own) || 'help',
      facts: { person: event.user, places: [team, event.channel], ...(userTeam && !home.has(userTeam) ? { external: true } : {}) },
      threadRef: { channel: event.channel, threadTs, messageTs: event.ts } satisfies SlackThreadRef,
      replyRef: { kind: 'thread', channel: event.channel, threadTs } satisfies SlackReplyRef,
      receivedAt: opts.now().toISOString(),
      raw: body,
    },
  ];
}

function fromCommand(command: SlashCommand, opts: NormalizeOptions): Normalized {
  required(command, ['team_id', 'channel_id', 'user_id', 'trigger_id', 'response_url'], 'the slash command');
  const team = command.team_id;
  return [
    {
      channel: 'slack',
      // Slack does not retry slash commands; trigger_id is unique per invocation.
      deliveryId: `command:${command.trigger_id}`,
      tenantId: team,
      conversationKey: `${team}:${command.channel_id}`,
      address: command.channel_id,
      userId: command.user_id,
      ...(command.user_name ? { userName: command.user_name } : {}),
      // `/sb` alone asks for help; the command name itself is whatever the app registered, so it is not part of the text.
      text: (command.text ?? '').trim() || 'help',
      facts: { person: command.user_id, places: [team, command.channel_id] },
      threadRef: { channel: command.channel_id, command: command.command },
      replyRef: { kind: 'command', channel: command.channel_id, responseUrl: command.response_url } satisfies SlackReplyRef,
      receivedAt: opts.now().toISOString(),
      raw: command,
    },
  ];
}

/** The rating a feedback button carries: `{ executionId, score }` as JSON in its `value` (`via` when the answer came through response_url). */
function vote(action: ButtonAction): { executionId: string; score: 1 | -1; via?: string } {
  const value = parseJson(action.value ?? '', 'the feedback button value');
  const score = FEEDBACK_ACTIONS[action.action_id];
  if (typeof value?.executionId !== 'string' || !value.executionId || value.score !== score) {
    throw new NormalizeError('invalid_request', 'the feedback button value must be {"executionId": "…", "score": 1 or -1} matching its action');
  }
  return { executionId: value.executionId, score: score!, ...(value.via === 'response_url' ? { via: value.via } : {}) };
}

function fromInteraction(payload: BlockAction, opts: NormalizeOptions): Normalized {
  if (payload?.type !== 'block_actions') return { ignore: `interaction ${String(payload?.type)} is not handled` };
  const action = payload.actions?.find((a) => a.action_id in FEEDBACK_ACTIONS) as ButtonAction | undefined;
  if (!action) return { ignore: 'no feedback button in this interaction' };
  const { executionId, score, via } = vote(action);
  const container = (payload.container ?? {}) as { channel_id?: string; message_ts?: string; is_ephemeral?: boolean };
  const channel = container.channel_id ?? payload.channel?.id;
  const ts = container.message_ts ?? payload.message?.ts;
  const team = payload.team?.id ?? payload.user?.team_id;
  if (!channel || !ts || !team || !payload.user?.id || !payload.response_url) {
    throw new NormalizeError('invalid_request', 'the interaction lacks its channel, message, team, user or response_url');
  }
  const threadTs: string = payload.message?.thread_ts ?? ts;
  // chat.update edits only messages the bot posted; ephemeral and slash-command answers are edited through response_url.
  const byResponseUrl = via === 'response_url' || container.is_ephemeral === true || !payload.message?.bot_id;
  return [
    {
      channel: 'slack',
      // The same click delivered twice carries the same trigger_id; two clicks are two deliveries (the vote is upserted).
      deliveryId: `action:${payload.trigger_id || `${action.action_ts}:${payload.user.id}`}`,
      tenantId: team,
      // Answers in a thread belong to that thread; one outside any thread is a slash command's, whose conversation is the channel.
      conversationKey: payload.message?.thread_ts ? `${team}:${channel}:${threadTs}` : `${team}:${channel}`,
      address: channel,
      userId: payload.user.id,
      ...(payload.user.username ? { userName: payload.user.username } : {}),
      text: score === 1 ? '+1' : '-1',
      agent: 'feedback',
      args: { score, executionId },
      facts: { person: payload.user.id, places: [team, channel], ...(payload.user.team_id && payload.user.team_id !== team ? { external: true } : {}) },
      threadRef: { channel, threadTs },
      replyRef: {
        kind: 'vote',
        channel,
        ts,
        userId: payload.user.id,
        score,
        responseUrl: payload.response_url,
        text: payload.message?.text ?? '',
        blocks: Array.isArray(payload.message?.blocks) ? payload.message.blocks : [],
        ...(byResponseUrl ? { via: 'response_url' as const } : {}),
      } satisfies SlackReplyRef,
      receivedAt: opts.now().toISOString(),
      raw: payload,
    },
  ];
}
