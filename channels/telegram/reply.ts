/** Replies on Telegram within its limits: 4,096-character messages, safe HTML, 👍/👎 keyboards, 429 retry_after. */
import { GrammyError, type Api } from 'grammy';
import type { InlineKeyboardMarkup } from 'grammy/types';
import { RetryLaterError, type OutboundPart, type PartMeta, type SendLimits } from '../../src/ports.ts';
import { findingsText } from '../../src/review/index.ts';
import { splitMessage } from '../../src/split.ts';
import type { Envelope, Reply } from '../../src/types.ts';
import { voteData, type TelegramReplyRef } from './normalize.ts';

/** Characters per message, counted after entity parsing (so HTML tags and escapes do not count). */
export const MESSAGE_CHARS = 4096;

/** Messages of up to 4,096 UTF-16 units, with a code fence cut open closed and reopened. */
export const TELEGRAM_LIMITS: SendLimits = { maxLength: MESSAGE_CHARS, fences: true };

const escapeHtml = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

// A fenced block, with an optional language on the opening line. A language name is short: a long unbroken first
// line (a piece the splitter cut inside one) is code, not a language.
const FENCE = /```(?:([\w+.#-]{1,32})?[^\S\n]*\n)?([\s\S]*?)```/g;

function inline(text: string): string {
  return text
    .split(/(`[^`\n]+`)/)
    .map((piece, i) => (i % 2 ? `<code>${escapeHtml(piece.slice(1, -1))}</code>` : escapeHtml(piece).replace(/\*\*(?=\S)([^*\n]*?\S)\*\*/g, '<b>$1</b>')))
    .join('');
}

/**
 * The Markdown agents write (code fences, `inline code`, **bold**) as Telegram HTML; everything else is escaped,
 * so no text can form a broken entity. Only markup is removed, never visible characters, so a piece that fits
 * `MESSAGE_CHARS` as text still fits once parsed.
 */
export function renderHtml(text: string): string {
  let out = '';
  let last = 0;
  for (const m of text.matchAll(FENCE)) {
    out += inline(text.slice(last, m.index));
    const code = escapeHtml(m[2]!.replace(/\n$/, ''));
    out += m[1] ? `<pre><code class="language-${m[1]}">${code}</code></pre>` : `<pre>${code}</pre>`;
    last = m.index + m[0].length;
  }
  return out + inline(text.slice(last));
}

/** 👍/👎 buttons whose callback_data names the execution; `voted` marks the choice after a press. */
export function feedbackKeyboard(executionId: string, voted?: 1 | -1): InlineKeyboardMarkup | undefined {
  const up = voteData(executionId, 1);
  const down = voteData(executionId, -1);
  if (!up || !down) return undefined;
  return {
    inline_keyboard: [
      [
        { text: voted === 1 ? '👍 ✓' : '👍', callback_data: up },
        { text: voted === -1 ? '👎 ✓' : '👎', callback_data: down },
      ],
    ],
  };
}

/** The text of a reply as Telegram shows it before it is split: findings listed after the text. */
export function composeReply(reply: Reply): string {
  const text = [reply.text, findingsText(reply.findings)].filter((t) => t.trim()).join('\n\n');
  return text || '(no answer)';
}

// Telegram refuses markup it cannot parse with 400 "can't parse entities"; the plain text always goes through.
const isEntityError = (err: unknown) => err instanceof GrammyError && err.error_code === 400 && /entit|tag/i.test(err.description);
// Nothing to retry: the press is too old to answer, or the keyboard already shows this vote / the message is gone.
const isStaleCallback = (err: unknown) => err instanceof GrammyError && err.error_code === 400 && /query is too old|query id is invalid/i.test(err.description);
const isStaleEdit = (err: unknown) =>
  err instanceof GrammyError && err.error_code === 400 && /not modified|message to edit not found|can't be edited/i.test(err.description);

// Platform errors an operator can fix, and how.
function explain(err: unknown): unknown {
  if (!(err instanceof GrammyError)) return err;
  const d = err.description;
  const hint =
    err.error_code === 401
      ? 'check TELEGRAM_BOT_TOKEN (BotFather → /mybots → API Token)'
      : /blocked by the user/i.test(d)
        ? 'the user blocked the bot; it can answer again once they unblock it'
        : /chat not found/i.test(d)
          ? 'check the chat id, and that the bot was added to the group or the user has started the bot'
          : /not enough rights|have no rights/i.test(d)
            ? 'give the bot permission to send messages in this chat'
            : undefined;
  return new Error(`Telegram ${err.method} failed: ${d}${hint ? `; ${hint}` : ''}`, { cause: err });
}

type Target = { chatId: number | string; threadId?: number; replyTo?: number };

/** Parses a routing destination: a chat id or @channel, optionally `:<topic id>`. */
export function parseTarget(target: string): Target {
  const match = /^(-?\d+|@[A-Za-z][\w]{3,})(?::(\d+))?$/.exec(target.trim());
  if (!match) throw new Error(`"${target}" is not a Telegram chat: use a chat id like -1001234567890 (optionally :<topic id>) or @channelname`);
  const chatId = /^-?\d+$/.test(match[1]!) ? Number(match[1]) : match[1]!;
  return { chatId, ...(match[2] ? { threadId: Number(match[2]) } : {}) };
}

/** One Bot API call: a 429 becomes RetryLaterError with Telegram's retry_after (the outbound step waits or defers). */
async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof GrammyError && err.error_code === 429)
      throw new RetryLaterError((err.parameters.retry_after ?? 1) * 1000, `Telegram rate-limited ${what}`, { cause: err });
    throw err;
  }
}

export function createTelegramSender(opts: { api: Api }) {
  const { api } = opts;
  // The message showing a streamed answer so far, per execution: the final answer's first part is written into it.
  const previews = new Map<string, number>();

  async function sendPart(to: Target, text: string, markup: InlineKeyboardMarkup | undefined, first: boolean) {
    const other = {
      link_preview_options: { is_disabled: true },
      ...(to.threadId !== undefined ? { message_thread_id: to.threadId } : {}),
      // If the question was deleted meanwhile, the answer still arrives, just not as a reply.
      ...(first && to.replyTo !== undefined ? { reply_parameters: { message_id: to.replyTo, allow_sending_without_reply: true } } : {}),
      ...(markup ? { reply_markup: markup } : {}),
    };
    try {
      return await call('sendMessage', () => api.sendMessage(to.chatId, renderHtml(text), { ...other, parse_mode: 'HTML' }));
    } catch (err) {
      if (!isEntityError(err)) throw err;
      return await call('sendMessage', () => api.sendMessage(to.chatId, text, other));
    }
  }

  /** Rewrites a message we sent; false when it can no longer be edited (deleted, too old). */
  async function editPart(chatId: number | string, messageId: number, text: string, markup: InlineKeyboardMarkup | undefined): Promise<boolean> {
    const other = { link_preview_options: { is_disabled: true }, ...(markup ? { reply_markup: markup } : {}) };
    try {
      try {
        await call('editMessageText', () => api.editMessageText(chatId, messageId, renderHtml(text), { ...other, parse_mode: 'HTML' }));
      } catch (err) {
        if (!isEntityError(err)) throw err;
        await call('editMessageText', () => api.editMessageText(chatId, messageId, text, other));
      }
      return true;
    } catch (err) {
      if (isStaleEdit(err)) return /not modified/i.test((err as GrammyError).description);
      throw err;
    }
  }

  /**
   * Sends one part; the last carries the 👍/👎 keyboard. A streamed preview of the answer (see `update`) becomes
   * the first part, so the chat shows one answer, not a draft and an answer.
   */
  async function deliver(to: Target, part: OutboundPart, meta: PartMeta, preview?: number) {
    const last = part.index === part.count - 1;
    const markup = last && meta.reply.feedback ? feedbackKeyboard(meta.executionId) : undefined;
    try {
      const edited = part.index === 0 && preview !== undefined && (await editPart(to.chatId, preview, part.text, markup));
      if (!edited) await sendPart(to, part.text, markup, part.index === 0);
    } catch (err) {
      throw explain(err);
    }
  }

  /**
   * Shows an answer while it streams: the first call sends it as a reply to the question, later calls edit that
   * message. `send` then puts the final answer into the same message.
   */
  async function update(envelope: Envelope, text: string, meta: { executionId: string }) {
    const target = envelope.replyRef as TelegramReplyRef | undefined;
    if (target?.kind !== 'message') return;
    const first = splitMessage(text, { limit: MESSAGE_CHARS, fences: true })[0]!;
    if (!first) return;
    const preview = previews.get(meta.executionId);
    if (preview !== undefined && (await editPart(target.chatId, preview, first, undefined))) return;
    const sent = await sendPart({ chatId: target.chatId, threadId: target.threadId, replyTo: target.messageId }, first, undefined, true);
    previews.set(meta.executionId, sent.message_id);
    if (previews.size > 1000) previews.delete(previews.keys().next().value!);
  }

  async function vote(ref: Extract<TelegramReplyRef, { kind: 'vote' }>, reply: Reply) {
    const rated = typeof reply.data?.executionId === 'string' ? reply.data.executionId : undefined;
    try {
      // The toast the presser sees; an alert when the vote could not be recorded, so it is not missed.
      await call('answerCallbackQuery', () => api.answerCallbackQuery(ref.callbackQueryId, { text: reply.text.slice(0, 200), show_alert: !rated }));
    } catch (err) {
      if (!isStaleCallback(err)) throw explain(err);
    }
    const markup = rated ? feedbackKeyboard(rated, ref.score) : undefined;
    if (!markup) return;
    try {
      await call('editMessageReplyMarkup', () => api.editMessageReplyMarkup(ref.chatId, ref.messageId, { reply_markup: markup }));
    } catch (err) {
      if (!isStaleEdit(err)) throw explain(err);
    }
  }

  /** Sends one part as a reply to the question (or, for a button press, answers the press once). */
  async function send(envelope: Envelope, part: OutboundPart, meta: PartMeta) {
    const ref = envelope.replyRef as TelegramReplyRef | undefined;
    if (ref?.kind === 'vote') return part.index === 0 ? vote(ref, meta.reply) : undefined;
    if (ref?.kind !== 'message') {
      throw new Error(
        `Telegram envelope ${envelope.deliveryId} has no reply address (replyRef.kind is ${String((ref as { kind?: unknown } | undefined)?.kind)})`,
      );
    }
    await deliver({ chatId: ref.chatId, threadId: ref.threadId, replyTo: ref.messageId }, part, meta, previews.get(meta.executionId));
    if (part.index === part.count - 1) previews.delete(meta.executionId);
  }

  /** Posts one part to a chat (a routing rule's destination): `<chat id>`, `@channel`, or `<chat id>:<topic id>`. */
  async function postTo(target: string, part: OutboundPart, meta: PartMeta) {
    await deliver(parseTarget(target), part, meta);
  }

  return { send, postTo, update };
}
