/** `summarize`: summarizes the conversation so far. */
import { fitHistory, PROMPTS } from '../llm/index.ts';
import type { SummarizeMaterial } from '../llm/index.ts';
import type { Agent } from '../ports.ts';
import { classify } from '../classify.ts';
import { historyContext, priorHistory, transcriptLine } from './conversation.ts';

const HISTORY_BUDGET = 6000;

export const summarizeAgent: Agent = {
  name: 'summarize',
  description: 'Summarizes the conversation so far.',
  usesLlm: true,
  async run(ctx) {
    // Commands, votes and pasted diffs are not conversation; leaving them out keeps the summary about what people said.
    const conversation = priorHistory(ctx).filter((m) => m.role === 'assistant' || classify(m.text).name === 'ask');
    // Run by an event (a routing rule, or a webhook naming this agent) rather than by a `summarize` command, the
    // event itself is the newest thing to summarize: history stops before the message being answered.
    const { envelope } = ctx;
    if (envelope.text.trim() && classify(envelope.text).name !== 'summarize') {
      conversation.push({ role: 'user', text: envelope.text, userId: envelope.userId, at: envelope.receivedAt });
    }
    const fitted = fitHistory(conversation, HISTORY_BUDGET, transcriptLine);
    const history = fitted.recent;
    if (!history.some((m) => m.role === 'user')) {
      return { text: 'There is nothing to summarize yet — once people have talked here, `summarize` gives the gist.', feedback: false };
    }
    const offline: SummarizeMaterial = { history };
    const result = await ctx.llm.complete({
      agent: 'summarize',
      system: PROMPTS.summarize.text,
      promptVersion: PROMPTS.summarize.version,
      messages: [{ role: 'user', content: `Summarize this conversation:\n${historyContext(fitted)}` }],
      maxTokens: 800,
      offline,
    });
    return { text: result.text, feedback: true, usage: result.usage };
  },
};
