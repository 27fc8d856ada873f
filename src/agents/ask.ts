/** `ask`: answers a question with the conversation as context. */
import { fitHistory, PROMPTS, wrapUntrusted } from '../llm/index.ts';
import type { AskMaterial } from '../llm/index.ts';
import type { Agent } from '../ports.ts';
import { COMMANDS } from '../classify.ts';
import { historyContext, priorHistory, transcriptLine } from './conversation.ts';

// Enough context for a chat thread while leaving most of a small model's window for the answer.
const HISTORY_BUDGET = 3000;

export const askAgent: Agent = {
  name: 'ask',
  description: 'Answers questions using the conversation as context.',
  usesLlm: true,
  async run(ctx) {
    const question = String(ctx.intent.args.question ?? ctx.envelope.text).trim();
    if (question === '') {
      return { text: 'Ask me anything, for example `/ask how do we deploy?` — or type `help` to see the commands.', feedback: false };
    }
    const fitted = fitHistory(priorHistory(ctx), HISTORY_BUDGET, transcriptLine);
    const context = fitted.recent.length > 0 ? historyContext(fitted) : 'There is no earlier conversation.';
    const offline: AskMaterial = { question, history: fitted.recent, commands: [...COMMANDS] };
    const result = await ctx.llm.complete({
      agent: 'ask',
      system: PROMPTS.ask.text,
      promptVersion: PROMPTS.ask.version,
      messages: [{ role: 'user', content: `${context}\n\nQuestion:\n${wrapUntrusted('question', question)}` }],
      maxTokens: 1024,
      offline,
    });
    return { text: result.text, feedback: true, usage: result.usage };
  },
};
