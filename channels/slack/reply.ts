/** Replies on Slack within its limits: thread replies, slash-command responses, routed posts and 👍/👎 votes. */
import type { types } from '@slack/bolt';
import { ErrorCode } from '@slack/web-api';
import type { ChatPostMessageArguments, WebClient } from '@slack/web-api';
import { RetryLaterError, type Logger, type OutboundPart, type PartMeta, type Prepared, type SendLimits } from '../../src/ports.ts';
import { findingsText } from '../../src/review/index.ts';
import { splitMessage } from '../../src/split.ts';
import type { Envelope, HistoryMessage, Reply } from '../../src/types.ts';
import { FEEDBACK_BLOCK_ID, stripMention, type BotIdentity, type SlackReplyRef, type SlackThreadRef } from './normalize.ts';

type Block = types.KnownBlock;
export type SlackMessage = { text: string; blocks: Block[] };

/** Block Kit's limit for the text of one section. */
export const SECTION_CHARS = 3000;
/** Around 13k characters of blocks a message fails with msg_blocks_too_long, so three full sections stay clear of it. */
export const SECTIONS_PER_MESSAGE = 3;
/** A response_url takes at most five messages. */
export const RESPONSE_URL_USES = 5;
/** What a thread shows while the agent works (posted by `prepare`), and what a slash command's ack says. */
export const WORKING_ON_IT = 'Working on it…';

/** mrkdwn reserves &, < and >; agents write plain text, so a `<question>` must not become a broken link. */
export const escapeMrkdwn = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** How many UTF-16 units of `text` fit in `limit` once escaped, never splitting a surrogate pair: Slack's measure. */
export function fitting(text: string, limit: number): number {
  let used = 0;
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    const width = /[\uD800-\uDBFF]/.test(ch) && i + 1 < text.length ? 2 : 1;
    const cost = ch === '&' ? 5 : ch === '<' || ch === '>' ? 4 : width;
    if (used + cost > limit) break;
    used += cost;
    i += width;
  }
  return i;
}

/** A message is up to three sections of 3,000 characters each, counted once escaped; a code fence cut open is closed. */
export const SLACK_LIMITS: SendLimits = { maxLength: SECTION_CHARS, fitting, fences: true, piecesPerPart: SECTIONS_PER_MESSAGE };

const section = (text: string): Block => ({ type: 'section', text: { type: 'mrkdwn', text: escapeMrkdwn(text) || ' ' } });

/**
 * 👍/👎 buttons; each value names the execution it rates, so the click needs no lookup, and says when the message
 * came through a response_url, which is then the only way to show the vote on it.
 */
export function feedbackBlock(executionId: string, via?: 'response_url'): Block {
  const button = (actionId: string, emoji: string, score: 1 | -1) => ({
    type: 'button' as const,
    action_id: actionId,
    text: { type: 'plain_text' as const, text: emoji, emoji: true },
    value: JSON.stringify({ executionId, score, ...(via ? { via } : {}) }),
  });
  return { type: 'actions', block_id: FEEDBACK_BLOCK_ID, elements: [button('sb_feedback_up', '👍', 1), button('sb_feedback_down', '👎', -1)] };
}

/** The rated message with its buttons replaced by who voted what. */
export function voteBlocks(blocks: unknown[], userId: string, score: 1 | -1): Block[] {
  const kept = blocks.filter((b) => (b as { block_id?: string }).block_id !== FEEDBACK_BLOCK_ID) as Block[];
  return [...kept, { type: 'context', elements: [{ type: 'mrkdwn', text: `${score === 1 ? '👍' : '👎'} recorded by <@${userId}>` }] }];
}

/** A reply's text as Slack shows it before it is split: findings listed after the text. */
export function composeReply(reply: Reply): string {
  return [reply.text, findingsText(reply.findings)].filter(Boolean).join('\n\n');
}

/** One part as a Slack message: a section per piece, and feedback buttons on the last part. */
export function renderPart(part: OutboundPart, meta: Pick<PartMeta, 'executionId' | 'reply'>, via?: 'response_url'): SlackMessage {
  const blocks = part.pieces.map(section);
  if (meta.reply.feedback && part.index === part.count - 1) blocks.push(feedbackBlock(meta.executionId, via));
  return { text: escapeMrkdwn(part.text), blocks };
}

/** The first message of a text while it streams: what fits in one message, without buttons. */
function preview(text: string): SlackMessage {
  const pieces = splitMessage(text, { limit: SECTION_CHARS, fitting, fences: true }).slice(0, SECTIONS_PER_MESSAGE);
  return renderPart({ text: pieces.join('\n\n'), pieces, index: 0, count: 1 }, { executionId: '', reply: { text } });
}

// Platform errors an operator can fix, and how.
const HINTS: Record<string, string> = {
  not_in_channel: 'invite the bot to the channel (/invite @Switchboard)',
  channel_not_found: 'check the channel id, and that the bot is a member of private channels',
  invalid_auth: 'check SLACK_BOT_TOKEN (OAuth & Permissions → Bot User OAuth Token)',
  token_revoked: 'reinstall the app and update SLACK_BOT_TOKEN',
  missing_scope: 'add the scope (see `npx switchboard slack manifest`) and reinstall the app',
};

export type SenderOptions = {
  client: WebClient;
  fetch?: typeof fetch;
  /** The bot's own ids, to tell its messages in a thread from people's. */
  identity?(): Promise<BotIdentity>;
  /** Warned when Slack refuses to share a thread (a missing scope), so the operator can add it. */
  logger?: Logger;
};

/** How much of a thread an answer reads: the latest 50 messages before it, from at most 5 pages of 200. */
export const HISTORY_LIMIT = 50;
const HISTORY_PAGE_SIZE = 200;
const HISTORY_PAGES = 5;

type ThreadMessage = {
  ts?: string;
  text?: string;
  user?: string;
  bot_id?: string;
  subtype?: string;
  metadata?: { event_type?: string; event_payload?: { execution_id?: unknown } };
};
/** Message metadata marking a "Working on it…" note, with the execution it stands for. */
const PLACEHOLDER_EVENT = 'switchboard_working';

/** Orders two Slack timestamps (`seconds.micros`) without floating-point rounding. */
export function compareTs(a: string, b: string): number {
  const [as = '', am = ''] = a.split('.');
  const [bs = '', bm = ''] = b.split('.');
  return (
    as.length - bs.length || (as < bs ? -1 : as > bs ? 1 : 0) || (am.padEnd(6, '0') < bm.padEnd(6, '0') ? -1 : am.padEnd(6, '0') > bm.padEnd(6, '0') ? 1 : 0)
  );
}

const unescapeMrkdwn = (text: string) => text.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');

// Subtypes that are still someone writing (other bots' posts included); joins, topic changes and the like are not.
const HISTORY_SUBTYPES = new Set(['file_share', 'thread_broadcast', 'bot_message', 'me_message']);

/** One thread message as history: the bot's own are the assistant's turns (its "Working on it…" notes left out). */
function toHistory(m: ThreadMessage, own: { users: Set<string>; botId?: string }): HistoryMessage[] {
  if (m.subtype && !HISTORY_SUBTYPES.has(m.subtype)) return [];
  const mine = (m.user !== undefined && own.users.has(m.user)) || (own.botId !== undefined && m.bot_id === own.botId);
  const text = unescapeMrkdwn(mine || !own.users.size ? (m.text ?? '') : stripMention(m.text ?? '', own.users)).trim();
  if (!text || (mine && text === WORKING_ON_IT)) return [];
  const [seconds = '0', micros = '0'] = m.ts!.split('.');
  const at = new Date(Number(seconds) * 1000 + Math.floor(Number(micros.padEnd(6, '0')) / 1000)).toISOString();
  return [{ role: mine ? 'assistant' : 'user', text, userId: mine ? null : (m.user ?? m.bot_id ?? null), at }];
}

/** What the operator reads when a thread cannot be loaded: which scope to add, or why it was skipped. */
function historyWarning(err: unknown): string {
  const e = err as { code?: string; data?: { error?: string; needed?: string } };
  const fallback = 'answering from the messages Switchboard stored, without what others wrote in the thread';
  if (e?.code === ErrorCode.RateLimitedError) return `Slack rate-limited conversations.replies; ${fallback}`;
  if (e?.data?.error === 'missing_scope') {
    const scope = e.data.needed ?? 'channels:history, groups:history, im:history and mpim:history';
    return `Slack refused conversations.replies (missing_scope): add the ${scope} bot scope (see \`npx switchboard slack manifest\`) and reinstall the app; until then ${fallback}`;
  }
  return `could not read the Slack thread (${e?.data?.error ?? (err instanceof Error ? err.message : String(err))}); ${fallback}`;
}

export function createSlackSender(opts: SenderOptions) {
  const { client } = opts;
  const fetchFn = opts.fetch ?? fetch;
  // The message an execution's answer goes into (its "Working on it…" note, or the message streaming writes), in
  // this process; another process finds the note through the reply's context instead.
  const answerTs = new Map<string, string>();
  const remember = (executionId: string, ts: string) => {
    answerTs.set(executionId, ts);
    if (answerTs.size > 1000) answerTs.delete(answerTs.keys().next().value!);
  };

  /** One Web API call: a rate limit becomes RetryLaterError (the outbound step waits or defers), a fixable error says how. */
  async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const e = err as { code?: string; retryAfter?: number; data?: { error?: string } };
      if (e?.code === ErrorCode.RateLimitedError) throw new RetryLaterError((e.retryAfter ?? 1) * 1000, `Slack rate-limited ${what}`, { cause: err });
      const hint = HINTS[e?.data?.error ?? ''];
      throw hint ? new Error(`${what} failed: ${e.data!.error}; ${hint}`, { cause: err }) : err;
    }
  }

  const post = (args: ChatPostMessageArguments) =>
    call('chat.postMessage', () => client.chat.postMessage({ unfurl_links: false, unfurl_media: false, ...args }));
  const edit = (channel: string, ts: string, message: { text: string; blocks?: Block[] }) =>
    call('chat.update', () => client.chat.update({ channel, ts, ...message }));

  async function respond(url: string, body: Record<string, unknown>) {
    const res = await fetchFn(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status === 429) throw new RetryLaterError((Number(res.headers.get('retry-after')) || 1) * 1000, 'Slack rate-limited response_url');
    if (!res.ok) throw new Error(`Slack response_url answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  }

  /**
   * Writes an answer into the thread while it streams: the "Working on it…" note (or a first message) is edited
   * with the text so far, and `send` puts the final answer there. A response_url cannot be edited in place; the
   * final reply arrives whole there.
   */
  async function update(envelope: Envelope, text: string, meta: { executionId: string }) {
    const ref = envelope.replyRef as SlackReplyRef | undefined;
    if (ref?.kind !== 'thread') return;
    const ts = answerTs.get(meta.executionId);
    if (ts) await edit(ref.channel, ts, preview(text));
    else remember(meta.executionId, (await post({ channel: ref.channel, thread_ts: ref.threadTs, ...preview(text) })).ts!);
  }

  /** Posts a part to a channel id (a routing rule's destination); parts after the first go into the first one's thread. */
  async function postTo(target: string, part: OutboundPart, meta: PartMeta): Promise<string | undefined> {
    const posted = await post({ channel: target, ...renderPart(part, meta), ...(meta.anchor ? { thread_ts: meta.anchor } : {}) });
    return part.index === 0 ? posted.ts : undefined;
  }

  /**
   * Posts "Working on it…" in the thread before the agent runs, and returns its ts: the answer's first part replaces
   * it, and a streamed answer is written into it. A retry in the same process reuses the one already posted.
   */
  async function placeholder(ref: Extract<SlackReplyRef, { kind: 'thread' }>, meta: { executionId: string }, found?: string): Promise<string | undefined> {
    const known = answerTs.get(meta.executionId) ?? found;
    if (known) {
      remember(meta.executionId, known);
      return known;
    }
    // The metadata names the execution, so an attempt in another process finds this note instead of adding one.
    const metadata = { event_type: PLACEHOLDER_EVENT, event_payload: { execution_id: meta.executionId } };
    const ts = (await post({ channel: ref.channel, thread_ts: ref.threadTs, text: WORKING_ON_IT, metadata })).ts;
    if (ts) remember(meta.executionId, ts);
    return ts;
  }

  /** Sends one part back where the envelope came from: a thread, a slash command's response_url, or a vote's message. */
  async function send(envelope: Envelope, part: OutboundPart, meta: PartMeta): Promise<void> {
    const ref = envelope.replyRef as SlackReplyRef | undefined;
    const { reply, executionId } = meta;
    if (ref?.kind === 'thread') {
      // The note `prepare` posted (or streaming wrote into): known in this process, or carried in the stored reply.
      const placeholderTs = typeof reply.context?.placeholderTs === 'string' ? reply.context.placeholderTs : undefined;
      const ts = answerTs.get(executionId) ?? placeholderTs;
      const message = renderPart(part, meta);
      if (part.index === 0 && ts) await edit(ref.channel, ts, message);
      else await post({ channel: ref.channel, thread_ts: ref.threadTs, ...message });
      if (part.index === part.count - 1) answerTs.delete(executionId);
    } else if (ref?.kind === 'command') {
      // Past response_url's five uses the rest goes to the channel, which needs the bot invited there. The buttons are
      // on the last part, so they name response_url as the way to show the vote only when that part goes through it.
      const via = part.count <= RESPONSE_URL_USES ? 'response_url' : undefined;
      const message = renderPart(part, meta, via);
      if (part.index < RESPONSE_URL_USES) await respond(ref.responseUrl, { response_type: 'in_channel', replace_original: false, ...message });
      else await post({ channel: ref.channel, ...message });
    } else if (ref?.kind === 'vote') {
      if (part.index === 0) await confirmVote(ref, reply);
    } else {
      throw new Error(`Slack envelope ${envelope.deliveryId} has no reply address (replyRef.kind is ${String((ref as { kind?: unknown } | undefined)?.kind)})`);
    }
  }

  /** Shows a vote on the rated message (or, when it was not recorded, tells only the person who clicked). */
  async function confirmVote(ref: Extract<SlackReplyRef, { kind: 'vote' }>, reply: Reply) {
    if (typeof reply.data?.executionId !== 'string') {
      // Not recorded (nothing to rate, agent disabled): tell only the person who clicked.
      await respond(ref.responseUrl, { response_type: 'ephemeral', replace_original: false, text: escapeMrkdwn(reply.text) });
    } else if (ref.via !== 'response_url') {
      await edit(ref.channel, ref.ts, { text: ref.text, blocks: voteBlocks(ref.blocks, ref.userId, ref.score) });
    } else if (ref.blocks.length) {
      // chat.update cannot edit an ephemeral or slash-command answer; the interaction's response_url can.
      await respond(ref.responseUrl, { replace_original: true, text: ref.text, blocks: voteBlocks(ref.blocks, ref.userId, ref.score) });
    } else {
      // Slack sent the click without the message (some ephemeral ones): replacing it would erase the answer.
      const note = voteBlocks([], ref.userId, ref.score);
      await respond(ref.responseUrl, { response_type: 'ephemeral', replace_original: false, text: `${ref.score === 1 ? '👍' : '👎'} recorded`, blocks: note });
    }
  }

  /**
   * Before the agent runs on a thread message: "Working on it…" goes up at once, and the thread's earlier messages,
   * read from Slack, become the history (people in a thread talk without mentioning the bot). Slash commands and
   * votes have no thread to read: their stored history stands.
   */
  async function prepare(envelope: Envelope, meta: { executionId: string; agent: string }): Promise<Prepared> {
    const ref = envelope.replyRef as SlackReplyRef | undefined;
    if (ref?.kind !== 'thread' || meta.agent === 'feedback') return { envelope };
    // In this process a retried attempt knows its note already; otherwise the thread is read first, so a note an
    // earlier attempt posted from another process (one killed mid-answer) is found and reused.
    const known = answerTs.has(meta.executionId);
    const thread = known ? undefined : await readThread(envelope, ref, meta.executionId);
    const placeholderTs = await placeholder(ref, meta, thread?.placeholderTs);
    const history = (known ? await readThread(envelope, ref, meta.executionId) : thread)?.history;
    return { envelope, ...(placeholderTs ? { context: { placeholderTs } } : {}), ...(history ? { history } : {}) };
  }

  /**
   * The thread before the message being answered, oldest first, and this execution's "Working on it…" if an earlier
   * attempt posted one; undefined (stored history stands) when Slack refuses.
   */
  async function readThread(
    envelope: Envelope,
    ref: Extract<SlackReplyRef, { kind: 'thread' }>,
    executionId: string,
  ): Promise<{ history: HistoryMessage[]; placeholderTs?: string } | undefined> {
    const messageTs = (envelope.threadRef as SlackThreadRef | undefined)?.messageTs ?? (envelope.raw as { event?: { ts?: string } } | undefined)?.event?.ts;
    if (!messageTs) return undefined;
    const earlier: ThreadMessage[] = [];
    let placeholderTs: string | undefined;
    try {
      let cursor: string | undefined;
      for (let page = 0; page < HISTORY_PAGES; page++) {
        const res = await client.conversations.replies({
          channel: ref.channel,
          ts: ref.threadTs,
          limit: HISTORY_PAGE_SIZE,
          include_all_metadata: true,
          ...(cursor ? { cursor } : {}),
        });
        const messages = (res.messages ?? []) as ThreadMessage[];
        earlier.push(...messages.filter((m) => typeof m.ts === 'string' && compareTs(m.ts, messageTs) < 0));
        placeholderTs ??= messages.find((m) => m.metadata?.event_type === PLACEHOLDER_EVENT && m.metadata.event_payload?.execution_id === executionId)?.ts;
        cursor = res.response_metadata?.next_cursor || undefined;
        // Replies come oldest first: once a page reaches the answered message, later pages are all newer.
        if (!res.has_more || !cursor || messages.some((m) => m.ts && compareTs(m.ts, messageTs) >= 0)) break;
      }
    } catch (err) {
      opts.logger?.warn({ err, channel: ref.channel, threadTs: ref.threadTs }, historyWarning(err));
      return undefined;
    }
    const own = await ownIds(envelope);
    return { history: earlier.flatMap((m) => toHistory(m, own)).slice(-HISTORY_LIMIT), ...(placeholderTs ? { placeholderTs } : {}) };
  }

  /** The bot's own user and bot ids: its messages in a thread are the assistant's turns. */
  async function ownIds(envelope: Envelope): Promise<{ users: Set<string>; botId?: string }> {
    const auths = (envelope.raw as { authorizations?: { user_id?: string; is_bot?: boolean }[] } | undefined)?.authorizations ?? [];
    const users = new Set(auths.filter((a) => a.is_bot && a.user_id).map((a) => a.user_id!));
    const identity = (await opts.identity?.()) ?? {};
    if (identity.userId) users.add(identity.userId);
    return { users, botId: identity.botId };
  }

  return { send, postTo, update, prepare };
}
