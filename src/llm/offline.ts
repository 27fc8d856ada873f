/** The `offline` provider: deterministic, no network, always available. The embedded default and the last fallback. */
import type { LlmCallOptions, LlmProvider, LlmRequest, LlmResult, OfflineReason } from '../ports.ts';
import type { ReviewSummary } from '../review/index.ts';
import type { HistoryMessage } from '../types.ts';
import { extractSummary, keywords, relatedMessages } from './extractive.ts';
import { estimateTokens } from './tokens.ts';

/** `request.offline` for `ask`: the question, the conversation before it, and the commands to explain. */
export type AskMaterial = { question: string; history: HistoryMessage[]; commands: { word: string; usage: string; description: string }[] };
/** `request.offline` for `summarize`: the conversational messages (commands already filtered out). */
export type SummarizeMaterial = { history: HistoryMessage[] };
/** `request.offline` for `review`: what the heuristics found. */
export type ReviewMaterial = { summary: ReviewSummary };

export const OFFLINE_MODEL = 'offline-1';

export const OFFLINE_NOTICE =
  'Note: Switchboard is running without an AI provider, so this answer comes from its built-in offline mode. ' +
  'For full answers set ANTHROPIC_API_KEY or OPENAI_API_KEY (optionally LLM_PROVIDERS=anthropic,openai,offline) and restart.';

/** The closing note of an offline answer: why it is offline and what to do about it. */
export function offlineNotice(reason: OfflineReason = { kind: 'unconfigured' }): string {
  switch (reason.kind) {
    case 'unconfigured':
      return OFFLINE_NOTICE;
    case 'unavailable': {
      const why = reason.errors.map((e) => `${e.provider}: ${clip(e.message, 120)}`).join('; ');
      return (
        `Note: the AI providers are unavailable right now${why ? ` (${why})` : ''}, so this answer comes from ` +
        "Switchboard's built-in offline mode. Ask again in a few minutes for a full answer."
      );
    }
    case 'budget':
      return (
        `Note: ${reason.detail}, so this answer comes from Switchboard's built-in offline mode and no AI provider was called. ` +
        'Budgets reset at midnight UTC; an operator can raise them (LLM_DAILY_*_BUDGET_*).'
      );
  }
}

/** Creates the offline provider. It answers in kind for each agent from the material in `request.offline`. */
export function createOfflineProvider(): LlmProvider {
  return {
    name: 'offline',
    async complete(request: LlmRequest, options: LlmCallOptions = {}): Promise<LlmResult> {
      const text = answer(request, offlineNotice(options.offlineReason));
      const input = [request.system, ...request.messages.map((m) => m.content)].join('\n');
      return { text, model: OFFLINE_MODEL, inputTokens: estimateTokens(input), outputTokens: estimateTokens(text) };
    },
  };
}

function answer(request: LlmRequest, notice: string): string {
  const material = request.offline ?? {};
  switch (request.agent) {
    case 'ask': {
      const lastUser = request.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
      return answerAsk({ question: lastUser, history: [], commands: [], ...(material as Partial<AskMaterial>) }, notice);
    }
    case 'summarize':
      return summarize((material as Partial<SummarizeMaterial>).history ?? [], notice);
    case 'review': {
      const { summary } = material as Partial<ReviewMaterial>;
      return summary ? formatReview(summary, notice) : `No review findings were provided.\n\n${notice}`;
    }
    default:
      return `I can't answer "${request.agent}" requests without an AI provider.\n\n${notice}`;
  }
}

function answerAsk({ question, history, commands }: AskMaterial, notice: string): string {
  const parts: string[] = [];
  const asksAboutUsage = /\b(commands?|what can you do|how (do|can|to)|usage|help)\b/i.test(question);
  const named = commands.filter((c) => new RegExp(`\\b${c.word}\\b`, 'i').test(question) && /\b(how|what|use|does|work|command)\b/i.test(question));
  const explain = named.length > 0 ? named : asksAboutUsage ? commands : [];
  if (explain.length > 0) {
    parts.push(`Commands:\n${explain.map((c) => `• ${c.usage} — ${c.description}`).join('\n')}`);
  }

  const related = relatedMessages(
    question,
    history.filter((m) => m.role === 'user'),
    3,
  );
  if (related.length > 0) {
    const lines = related.map(
      ({ message, shared }) =>
        `• ${message.userId ?? 'someone'} (${message.at.slice(0, 16).replace('T', ' ')}): "${clip(message.text, 200)}" — mentions ${shared.join(', ')}`,
    );
    parts.push(`Earlier in this conversation:\n${lines.join('\n')}`);
  } else if (explain.length === 0) {
    const topic = keywords(question).slice(0, 5).join(', ');
    parts.push(topic ? `I found nothing earlier in this conversation about ${topic}.` : 'Ask me something specific, or type `help` to see what I can do.');
  }
  parts.push(notice);
  return parts.join('\n\n');
}

function summarize(history: HistoryMessage[], notice: string): string {
  const fromUsers = history.filter((m) => m.role === 'user');
  if (fromUsers.length === 0) return 'There is nothing to summarize yet.';
  const people = [...new Set(fromUsers.map((m) => m.userId ?? 'someone'))];
  const replies = history.length - fromUsers.length;
  const { sentences, topWords } = extractSummary(fromUsers);
  const header =
    `Summary of ${history.length} message${history.length === 1 ? '' : 's'} ` +
    `(${fromUsers.length} from ${people.length} participant${people.length === 1 ? '' : 's'}: ${people.join(', ')}` +
    `${replies > 0 ? `; ${replies} bot repl${replies === 1 ? 'y' : 'ies'}` : ''}), picked out by word frequency:`;
  const body = sentences.map((s) => `• ${s.userId ?? 'someone'}: ${clip(s.text, 300)}`).join('\n');
  const topics = topWords.length > 0 ? `\nMost discussed: ${topWords.join(', ')}.` : '';
  return `${header}\n${body}${topics}\n\n${notice}`;
}

function formatReview(summary: ReviewSummary, notice: string): string {
  const lines = [`Review by offline heuristics — risk: ${summary.risk}.`];
  lines.push(
    `Files reviewed (${summary.filesReviewed.length}): ${summary.filesReviewed.join(', ') || 'none'}; +${summary.linesAdded} −${summary.linesRemoved} lines.`,
  );
  if (summary.skipped.length > 0) {
    lines.push(`Skipped (${summary.skipped.length}): ${summary.skipped.map((s) => `${s.path} (${s.reason})`).join(', ')}.`);
  }
  const byRule = Object.entries(summary.findingsByRule).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  lines.push(byRule.length > 0 ? `Findings: ${byRule.map(([rule, n]) => `${rule} ×${n}`).join(', ')}.` : 'No problems found by the heuristics.');
  for (const g of summary.general) lines.push(`• ${g.body}`);
  if (summary.suppressed > 0) lines.push(`${summary.suppressed} repeated finding(s) left out of the inline comments.`);
  lines.push('', notice);
  return lines.join('\n');
}

function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
