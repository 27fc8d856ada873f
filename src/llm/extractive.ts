/** Word statistics for the offline provider: keyword overlap for `ask`, sentence scoring for `summarize`. */
import type { HistoryMessage } from '../types.ts';

const STOPWORDS = new Set(
  (
    'a about above after again against all also am an and any are as at be because been before being below between both but by ' +
    'can could did do does doing done down during each few for from further get got had has have having he her here hers him his how ' +
    'i if in into is it its itself just let like me more most my no nor not now of off on once only or other our ours out over own ' +
    'please same she should so some such than that the their theirs them then there these they this those through to too under until ' +
    'up us very was we were what when where which while who whom why will with would yes yet you your yours ok okay thanks thank hi hello ' +
    'hey sure think know want need one two really maybe still well going use used using'
  ).split(' '),
);

/** Content words of `text`: lower-cased, stopwords dropped, a plural `s` folded so "deploys" meets "deploy". */
export function keywords(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length >= 3 && !STOPWORDS.has(w) && !/^\d+$/.test(w))
    .map((w) => (w.length > 4 && w.endsWith('s') && !w.endsWith('ss') ? w.slice(0, -1) : w));
}

export type Related = { message: HistoryMessage; shared: string[] };

/** Earlier messages sharing the most keywords with `question`; ties go to the more recent. Returned oldest first. */
export function relatedMessages(question: string, history: HistoryMessage[], limit: number): Related[] {
  const wanted = new Set(keywords(question));
  const scored = history
    .map((message, index) => ({ message, index, shared: [...new Set(keywords(message.text))].filter((w) => wanted.has(w)) }))
    .filter((r) => r.shared.length > 0 && r.message.text.trim() !== question.trim());
  scored.sort((a, b) => b.shared.length - a.shared.length || b.index - a.index);
  return scored
    .slice(0, limit)
    .sort((a, b) => a.index - b.index)
    .map(({ message, shared }) => ({ message, shared }));
}

export type Extract = { sentences: { text: string; userId: string | null }[]; topWords: string[] };

/**
 * Extractive summary: each sentence scores the conversation-wide frequency of its content words,
 * damped by length so long sentences do not win by size alone; the best ones come back in original order.
 */
export function extractSummary(messages: HistoryMessage[], maxSentences = 5): Extract {
  const sentences = messages.flatMap((m) =>
    m.text
      .split(/(?<=[.!?])\s+|\n+/)
      .map((s) => s.trim())
      .filter((s) => s.length > 0)
      .map((text) => ({ text, userId: m.userId ?? null, words: keywords(text) })),
  );
  const freq = new Map<string, number>();
  for (const s of sentences) for (const w of s.words) freq.set(w, (freq.get(w) ?? 0) + 1);

  const seen = new Set<string>();
  const candidates = sentences
    .map((s, index) => ({ ...s, index, score: s.words.reduce((sum, w) => sum + (freq.get(w) ?? 0), 0) / Math.sqrt(s.words.length || 1) }))
    // One- and two-word sentences ("ok", "sounds good") carry no content worth repeating.
    .filter((s) => s.words.length >= 2 && !seen.has(s.text.toLowerCase()) && seen.add(s.text.toLowerCase()));
  const count = Math.min(maxSentences, Math.max(1, Math.ceil(candidates.length / 3)));
  const picked = [...candidates]
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, count)
    .sort((a, b) => a.index - b.index);

  const topWords = [...freq.entries()]
    .filter(([, n]) => n > 1)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, 5)
    .map(([w]) => w);
  return { sentences: picked.map(({ text, userId }) => ({ text, userId })), topWords };
}
