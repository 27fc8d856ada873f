/** Turns the text of a message into an intent. Pure: no I/O, no platform knowledge. */
import type { Intent, IntentName } from './types.ts';

export type Command = { word: IntentName; usage: string; description: string };

/** The command words users type (contract: ARCHITECTURE §4), in the order help lists them. */
export const COMMANDS: readonly Command[] = [
  { word: 'help', usage: 'help', description: 'list commands and enabled agents' },
  { word: 'ask', usage: '/ask <question> (or just type)', description: 'answer using this conversation as context' },
  { word: 'summarize', usage: 'summarize', description: 'summarize this conversation' },
  { word: 'review', usage: '/review <unified diff> (or paste a diff)', description: 'review a diff with inline comments' },
  { word: 'status', usage: 'status', description: 'queue depth, agents, recent failures, provider health' },
  { word: 'feedback', usage: '+1 / -1 (or 👍 / 👎)', description: 'rate the last answer in this conversation' },
];

const COMMAND_WORDS = new Set<string>(COMMANDS.map((c) => c.word));

// Skin-tone modifiers and variation selectors ride along with thumbs emoji on most keyboards.
const EMOJI_NOISE = /[\u{1F3FB}-\u{1F3FF}\u{FE0E}\u{FE0F}]/gu;
const FEEDBACK: Record<string, 1 | -1> = {
  '+1': 1,
  '👍': 1,
  ':+1:': 1,
  ':thumbsup:': 1,
  '-1': -1,
  '👎': -1,
  ':-1:': -1,
  ':thumbsdown:': -1,
};

// Slack puts `<@U123>` in front of app mentions; Telegram appends `@botname` to commands in groups.
const LEADING_MENTION = /^<@[A-Z0-9]+(?:\|[^>]*)?>\s*/i;
const COMMAND = /^(\/?)([a-z]+)(?:@\w+)?[.!?]*(?:\s+([\s\S]*))?$/i;

const HUNK_HEADER = /^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@/m;
const GIT_HEADER = /^diff --git \S/m;
const FILE_HEADERS = /^--- \S[^\n]*\n\+\+\+ \S/m;

/** True when the text carries a unified diff: hunks under file headers, or a `diff --git` header alone (renames, binaries). */
export function looksLikeDiff(text: string): boolean {
  if (GIT_HEADER.test(text)) return true;
  return HUNK_HEADER.test(text) && FILE_HEADERS.test(text);
}

/**
 * Classifies the text of one message. Channels strip their own bot mention or slash-command word
 * (`/sb`) first; whatever remains is matched case-insensitively, ignoring surrounding whitespace
 * and trailing punctuation. Anything that is not a command is a question for `ask`.
 */
export function classify(text: string): Intent {
  const trimmed = text.replace(LEADING_MENTION, '').trim();

  const score =
    FEEDBACK[
      trimmed
        .replace(EMOJI_NOISE, '')
        .replace(/[.!]+$/, '')
        .toLowerCase()
    ];
  if (score !== undefined) return { name: 'feedback', args: { score } };

  const match = COMMAND.exec(trimmed);
  if (match && COMMAND_WORDS.has(match[2].toLowerCase())) {
    const slashed = match[1] === '/';
    const word = match[2].toLowerCase() as IntentName;
    const rest = (match[3] ?? '').trim();
    // A bare word only counts alone ("help"), so "help me with deploys" stays a question;
    // `ask`/`review` may carry their argument without the slash because `/sb ask …` arrives that way.
    if (slashed || rest === '' || word === 'ask' || (word === 'review' && looksLikeDiff(rest))) {
      return withArgument(word, rest);
    }
  }

  if (looksLikeDiff(trimmed)) return { name: 'review', args: { diff: trimmed } };
  return { name: 'ask', args: { question: trimmed } };
}

function withArgument(word: IntentName, rest: string): Intent {
  switch (word) {
    case 'ask':
      return { name: 'ask', args: { question: rest } };
    case 'review':
      return { name: 'review', args: rest === '' ? {} : { diff: rest } };
    case 'feedback': {
      const score = FEEDBACK[rest.replace(EMOJI_NOISE, '')];
      return { name: 'feedback', args: score === undefined ? {} : { score } };
    }
    default:
      return { name: word, args: {} };
  }
}
