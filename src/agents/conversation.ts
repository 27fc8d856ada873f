/** Conversation helpers shared by the agents that send history to a model. */
import { wrapUntrusted, type FittedHistory } from '../llm/index.ts';
import type { AgentContext } from '../ports.ts';
import type { HistoryMessage } from '../types.ts';

/** History before the message being answered: the pipeline stores that message before the agent runs. */
export function priorHistory(ctx: AgentContext): HistoryMessage[] {
  const last = ctx.history.at(-1);
  const isCurrent = last !== undefined && last.role === 'user' && last.text.trim() === ctx.envelope.text.trim();
  return isCurrent ? ctx.history.slice(0, -1) : ctx.history;
}

/** One transcript line: `[2024-05-01 10:02] alice: text`. */
export function transcriptLine(message: HistoryMessage): string {
  const who = message.role === 'assistant' ? 'switchboard' : (message.userId ?? 'user');
  return `[${message.at.slice(0, 16).replace('T', ' ')}] ${who}: ${message.text}`;
}

export function transcript(messages: HistoryMessage[]): string {
  return messages.map(transcriptLine).join('\n');
}

/** History for a prompt: a summary of older turns when some did not fit, then the recent ones verbatim; all untrusted. */
export function historyContext(fitted: FittedHistory): string {
  const recent = wrapUntrusted('conversation', transcript(fitted.recent));
  if (!fitted.earlierSummary) return recent;
  const n = fitted.earlierCount;
  return `Summary of ${n} earlier message${n === 1 ? '' : 's'} (too long to include):\n${wrapUntrusted('earlier-conversation', fitted.earlierSummary)}\n\nMost recent messages:\n${recent}`;
}
