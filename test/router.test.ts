import { describe, expect, it } from 'vitest';
import { agentForIntent, COMMANDS, looksLikeDiff, route } from '../src/router.ts';

const DIFF = [
  'diff --git a/src/app.ts b/src/app.ts',
  'index 1111111..2222222 100644',
  '--- a/src/app.ts',
  '+++ b/src/app.ts',
  '@@ -1,2 +1,3 @@',
  ' const a = 1;',
  '+console.log(a);',
  ' export { a };',
].join('\n');

describe('route', () => {
  it('the bare command words and their slash forms route to their intents', () => {
    for (const word of ['help', 'summarize', 'status'] as const) {
      expect(route(word)).toEqual({ name: word, args: {} });
      expect(route(`/${word}`)).toEqual({ name: word, args: {} });
    }
  });

  it('matching ignores case, surrounding whitespace and trailing punctuation', () => {
    expect(route('  HELP?  ').name).toBe('help');
    expect(route('Status!').name).toBe('status');
    expect(route('\n/Summarize.\n').name).toBe('summarize');
  });

  it('a command word inside a sentence is a question, not a command', () => {
    expect(route('help me understand the deploy')).toEqual({ name: 'ask', args: { question: 'help me understand the deploy' } });
    expect(route('what is the status of billing?').name).toBe('ask');
  });

  it('/ask and plain text are questions; `ask …` without the slash works as Slack `/sb ask …` delivers it', () => {
    expect(route('/ask how do we deploy?')).toEqual({ name: 'ask', args: { question: 'how do we deploy?' } });
    expect(route('ask how do we deploy?')).toEqual({ name: 'ask', args: { question: 'how do we deploy?' } });
    expect(route('why is the build red')).toEqual({ name: 'ask', args: { question: 'why is the build red' } });
  });

  it('+1, -1 and thumbs (with skin tones) are feedback with a score', () => {
    expect(route('+1')).toEqual({ name: 'feedback', args: { score: 1 } });
    expect(route(' -1 ')).toEqual({ name: 'feedback', args: { score: -1 } });
    expect(route('👍')).toEqual({ name: 'feedback', args: { score: 1 } });
    expect(route('👎🏽')).toEqual({ name: 'feedback', args: { score: -1 } });
    expect(route(':thumbsup:').name).toBe('feedback');
    expect(route('+1 to that plan').name).toBe('ask');
  });

  it('feedback may end in any run of . or !, and only at its end', () => {
    expect(route('+1!!')).toEqual({ name: 'feedback', args: { score: 1 } });
    expect(route('👍.')).toEqual({ name: 'feedback', args: { score: 1 } });
    expect(route('!+1').name).toBe('ask');
  });

  it('/feedback carries its vote, and without one the agent asks for it', () => {
    expect(route('/feedback +1')).toEqual({ name: 'feedback', args: { score: 1 } });
    expect(route('/feedback 👎🏽')).toEqual({ name: 'feedback', args: { score: -1 } });
    expect(route('/feedback')).toEqual({ name: 'feedback', args: {} });
    expect(route('/feedback great')).toStrictEqual({ name: 'feedback', args: {} });
  });

  it('a slash makes any command word a command even with words after it', () => {
    expect(route('/status please')).toEqual({ name: 'status', args: {} });
    expect(route('status please').name).toBe('ask');
  });

  it('`review` without the slash takes a diff after it, but not other words', () => {
    expect(route(`review\n${DIFF}`)).toEqual({ name: 'review', args: { diff: DIFF } });
    expect(route('review this later please')).toEqual({ name: 'ask', args: { question: 'review this later please' } });
    expect(route(`help\n${DIFF}`)).toEqual({ name: 'review', args: { diff: `help\n${DIFF}` } });
  });

  it('a pasted diff routes to review with the diff as argument', () => {
    expect(route(DIFF)).toEqual({ name: 'review', args: { diff: DIFF } });
    expect(route(`can you check this?\n${DIFF}`).name).toBe('review');
  });

  it('/review carries the diff that follows it, and works with no diff (the agent explains)', () => {
    expect(route(`/review\n${DIFF}`)).toEqual({ name: 'review', args: { diff: DIFF } });
    expect(route('/review')).toEqual({ name: 'review', args: {} });
  });

  it('a Slack mention or a Telegram @bot suffix does not hide the command', () => {
    expect(route('<@U012ABC> status').name).toBe('status');
    expect(route('/help@switchboard_bot').name).toBe('help');
  });

  it('unknown slash commands are questions', () => {
    expect(route('/deploy prod')).toEqual({ name: 'ask', args: { question: '/deploy prod' } });
  });
});

describe('looksLikeDiff', () => {
  it('needs hunks under file headers, or a git header', () => {
    expect(looksLikeDiff(DIFF)).toBe(true);
    expect(looksLikeDiff('--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b')).toBe(true);
    expect(looksLikeDiff('diff --git a/logo.png b/logo.png\nBinary files a/logo.png and b/logo.png differ')).toBe(true);
    expect(looksLikeDiff('@@ -1 +1 @@ is how hunks start')).toBe(false);
    expect(looksLikeDiff('--- a list\n+++ of things')).toBe(false);
  });
});

describe('command list', () => {
  it('names every intent once, for help text', () => {
    expect(COMMANDS.map((c) => c.word).sort()).toEqual(['ask', 'feedback', 'help', 'review', 'status', 'summarize']);
  });

  it('each intent is handled by the agent of the same name', () => {
    expect(agentForIntent(route('summarize'))).toBe('summarize');
    expect(agentForIntent(route('+1'))).toBe('feedback');
  });
});
