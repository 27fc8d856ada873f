/**
 * Telegram updates → envelopes. Private chats: every text message. Groups: commands, replies to the bot and
 * @mentions of it only; everything else is `ignore`d, so nothing is stored. 👍/👎 button presses become feedback.
 */
import type { CallbackQuery, Message, MessageEntity, Update } from 'grammy/types';
import { NormalizeError } from '../../src/ports.ts';
import type { RawRequest } from '../../src/ports.ts';
import type { AccessFacts, Envelope } from '../../src/types.ts';

/** Where a reply goes; stored with the envelope, so it is plain JSON. */
export type TelegramReplyRef =
  /** Answer a message: reply to it, in its forum topic when it has one. */
  | { kind: 'message'; chatId: number; messageId: number; threadId?: number }
  /** A 👍/👎 press: answer the callback query and mark the vote on the rated message's keyboard. */
  | { kind: 'vote'; chatId: number; messageId: number; callbackQueryId: string; score: 1 | -1 };

export type NormalizeOptions = {
  now(): Date;
  /** The bot's user id: the number before the colon of its token, so no API call is needed. */
  botId: number;
  /** The bot's @username, fetched once (getMe) and only when a group message needs it. */
  username(): Promise<string>;
};

export type Normalized = Envelope[] | { ignore: string };

/**
 * Commands a group may address to the bot without naming it (`/help`); other bots' commands are not ours.
 * `/start` is what Telegram sends when someone opens the bot, so it asks for help.
 */
export const GROUP_COMMANDS = new Set(['help', 'start', 'ask', 'summarize', 'status', 'review']);

// `fb:<execution uuid>:<+1|-1>`: 42 bytes, inside callback_data's 64.
const VOTE_DATA = /^fb:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):([+-]1)$/i;
export const CALLBACK_DATA_BYTES = 64;

/** The callback_data of a feedback button, or undefined when the execution id would not fit in 64 bytes. */
export function voteData(executionId: string, score: 1 | -1): string | undefined {
  const data = `fb:${executionId}:${score === 1 ? '+1' : '-1'}`;
  return VOTE_DATA.test(data) && Buffer.byteLength(data) <= CALLBACK_DATA_BYTES ? data : undefined;
}

/** The vote a button carries, or undefined for data that is not one of ours. */
export function parseVoteData(data: string | undefined): { executionId: string; score: 1 | -1 } | undefined {
  const match = VOTE_DATA.exec(data ?? '');
  return match ? { executionId: match[1]!.toLowerCase(), score: match[2] === '+1' ? 1 : -1 } : undefined;
}

/** A chat, or a forum topic inside one: the conversation whose history the agents see. */
export function conversationKey(chatId: number, threadId?: number): string {
  return threadId === undefined ? String(chatId) : `${chatId}:${threadId}`;
}

/** Who wrote, for the access policy: the person, the chat, and whether the chat is shared by several people. */
function facts(userId: number, chat: { id: number; type: string }): AccessFacts {
  return { person: String(userId), places: [String(chat.id)], ...(chat.type !== 'private' ? { groupChat: String(chat.id) } : {}) };
}

const displayName = (user: { username?: string; first_name: string; last_name?: string }) =>
  user.username ?? [user.first_name, user.last_name].filter(Boolean).join(' ');

export async function normalizeTelegram(req: RawRequest, opts: NormalizeOptions): Promise<Normalized> {
  let update: Update;
  try {
    update = JSON.parse(new TextDecoder().decode(req.body)) as Update;
  } catch {
    throw new NormalizeError('malformed_json', 'the Telegram update is not valid JSON');
  }
  if (!update || typeof update !== 'object' || !Number.isSafeInteger(update.update_id)) {
    throw new NormalizeError('invalid_request', 'a Telegram update must be a JSON object with a numeric update_id');
  }
  if (update.message) return fromMessage(update, update.message, opts);
  if (update.callback_query) return fromCallback(update, update.callback_query, opts);
  const kind = Object.keys(update).find((k) => k !== 'update_id') ?? 'empty';
  return { ignore: `update of type ${kind} is not handled` };
}

type Addressed = { text: string } | { ignore: string };

const entityText = (text: string, e: MessageEntity) => text.slice(e.offset, e.offset + e.length);

/** The text with `ranges` (entity offsets, in UTF-16 units like JS strings) removed. */
function without(text: string, ranges: MessageEntity[]): string {
  let out = text;
  for (const e of [...ranges].sort((a, b) => b.offset - a.offset)) out = out.slice(0, e.offset) + out.slice(e.offset + e.length);
  return out.replace(/[ \t]{2,}/g, ' ').trim();
}

/**
 * Decides whether a message is for the bot and returns its text without the bot's name. In a group that means a
 * command for us, a reply to one of our messages, or an @mention; getMe is only asked when a name must be compared.
 */
async function addressed(message: Message, text: string, entities: MessageEntity[], opts: NormalizeOptions): Promise<Addressed> {
  const isPrivate = message.chat.type === 'private';
  const command = entities.find((e) => e.type === 'bot_command' && e.offset === 0);
  if (command) {
    const [word, target] = entityText(text, command).slice(1).split('@') as [string, string | undefined];
    if (!isPrivate) {
      if (target !== undefined && target.toLowerCase() !== (await opts.username()).toLowerCase()) return { ignore: `a command for @${target}` };
      if (target === undefined && !GROUP_COMMANDS.has(word.toLowerCase())) return { ignore: `/${word} is not one of our commands` };
    }
    // The classifier reads "/ask@bot …" too, but the name is stripped so the stored text reads as typed in private.
    const rest = text.slice(command.offset + command.length).trim();
    if (word.toLowerCase() === 'start') return { text: 'help' };
    return { text: rest ? `/${word} ${rest}` : `/${word}` };
  }
  if (isPrivate) return { text: text.trim() };

  const mine: MessageEntity[] = [];
  for (const e of entities) {
    if (e.type === 'text_mention' && e.user.id === opts.botId) mine.push(e);
    if (e.type === 'mention' && entityText(text, e).toLowerCase() === `@${(await opts.username()).toLowerCase()}`) mine.push(e);
  }
  if (mine.length) return { text: without(text, mine) || 'help' };
  if (message.reply_to_message?.from?.id === opts.botId) return { text: text.trim() };
  return { ignore: 'a group message that neither commands, mentions nor replies to the bot' };
}

async function fromMessage(update: Update, message: Message, opts: NormalizeOptions): Promise<Normalized> {
  if (!message.from) return { ignore: 'a message without a sender (channel post)' };
  if (message.from.is_bot) return { ignore: 'a message from a bot' };
  if (message.chat.type === 'channel') return { ignore: 'a channel post' };
  // A captioned photo is text we can read; a sticker or a join is not.
  const raw = message.text ?? message.caption;
  if (raw === undefined || raw.trim() === '') return { ignore: 'a message without text' };
  const entities = (message.text !== undefined ? message.entities : message.caption_entities) ?? [];
  const decided = await addressed(message, raw, entities, opts);
  if ('ignore' in decided) return decided;

  const chatId = message.chat.id;
  // Replies inside an ordinary supergroup carry a thread id too; only forum topics are separate conversations.
  const threadId = message.is_topic_message ? message.message_thread_id : undefined;
  return [
    {
      channel: 'telegram',
      // Telegram redelivers an update until it gets a 2xx; update_id is the same each time.
      deliveryId: String(update.update_id),
      tenantId: String(chatId),
      conversationKey: conversationKey(chatId, threadId),
      // A routing rule names a chat (and topic) the same way.
      address: conversationKey(chatId, threadId),
      userId: String(message.from.id),
      userName: displayName(message.from),
      text: decided.text,
      facts: facts(message.from.id, message.chat),
      threadRef: { chatId, chatType: message.chat.type, ...(threadId !== undefined ? { threadId } : {}) },
      replyRef: { kind: 'message', chatId, messageId: message.message_id, ...(threadId !== undefined ? { threadId } : {}) } satisfies TelegramReplyRef,
      receivedAt: opts.now().toISOString(),
      raw: update,
    },
  ];
}

function fromCallback(update: Update, query: CallbackQuery, opts: NormalizeOptions): Normalized {
  const vote = parseVoteData(query.data);
  if (!vote) return { ignore: 'a button that is not a feedback vote' };
  // Inline-mode messages have no chat; our keyboards only sit on messages we sent to a chat.
  if (!query.message) return { ignore: 'a vote on a message without a chat' };
  const chatId = query.message.chat.id;
  const threadId = 'is_topic_message' in query.message && query.message.is_topic_message ? query.message.message_thread_id : undefined;
  return [
    {
      channel: 'telegram',
      deliveryId: String(update.update_id),
      tenantId: String(chatId),
      conversationKey: conversationKey(chatId, threadId),
      // A routing rule names a chat (and topic) the same way.
      address: conversationKey(chatId, threadId),
      userId: String(query.from.id),
      userName: displayName(query.from),
      text: vote.score === 1 ? '+1' : '-1',
      agent: 'feedback',
      args: { score: vote.score, executionId: vote.executionId },
      facts: facts(query.from.id, query.message.chat),
      threadRef: { chatId, ...(threadId !== undefined ? { threadId } : {}) },
      replyRef: { kind: 'vote', chatId, messageId: query.message.message_id, callbackQueryId: query.id, score: vote.score } satisfies TelegramReplyRef,
      receivedAt: opts.now().toISOString(),
      raw: update,
    },
  ];
}
