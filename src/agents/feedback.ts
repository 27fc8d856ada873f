/** `feedback`: stores a 👍/👎 on the answer it rates. */
import { NOT_A_VOTE } from '../pipeline/votes.ts';
import type { Agent, FeedbackInput } from '../ports.ts';

export const feedbackAgent: Agent = {
  name: 'feedback',
  description: 'Records 👍/👎 feedback on the last answer.',
  usesLlm: false,
  async run(ctx) {
    // A channel's prepare may name the execution a vote rates (a GitHub thread reply: the comment it answers).
    const { score, executionId } = { ...ctx.intent.args, ...ctx.envelope.args };
    const hint = 'To rate my last answer, reply +1 or -1 (or 👍 / 👎).';
    // `score: null` from a channel's prepare: the +1 rates no answer of ours (GitHub: a bare +1 in a review thread a
    // person started). It is their conversation, not a vote: nothing is recorded, and nothing is posted.
    if (score === null) return { text: hint, feedback: false, withheld: NOT_A_VOTE };
    if (score !== 1 && score !== -1) return { text: hint, feedback: false };
    const input: FeedbackInput = { conversationId: ctx.conversationId, userId: ctx.envelope.userId, score, channel: ctx.envelope.channel };
    // Buttons name the execution they sit under; typed "+1" rates the latest answer in the conversation.
    if (typeof executionId === 'string') input.executionId = executionId;
    const result = await ctx.recordFeedback(input);
    if ('error' in result && result.error === 'not-here') {
      return { text: 'That answer is not from this conversation, so the vote was not counted.', feedback: false };
    }
    if ('error' in result) {
      return { text: 'There is no earlier answer in this conversation to rate yet. Ask me something first, then reply +1 or -1.', feedback: false };
    }
    return { text: `Thanks — recorded ${result.score === 1 ? '👍' : '👎'} for that answer.`, feedback: false, data: { executionId: result.executionId } };
  },
};
