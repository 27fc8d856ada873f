import { describe, expect, it } from 'vitest';
import { classify, COMMANDS, looksLikeDiff } from '../src/classify.ts';

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

describe('classify', () => {
  it('the bare command words and their slash forms classify as their intents', () => {
    for (const word of ['help', 'summarize', 'status'] as const) {
      expect(classify(word)).toEqual({ name: word, args: {} });
      expect(classify(`/${word}`)).toEqual({ name: word, args: {} });
    }
  });

  it('matching ignores case, surrounding whitespace and trailing punctuation', () => {
    expect(classify('  HELP?  ').name).toBe('help');
    expect(classify('Status!').name).toBe('status');
    expect(classify('\n/Summarize.\n').name).toBe('summarize');
  });

  it('a command word inside a sentence is a question, not a command', () => {
    expect(classify('help me understand the deploy')).toEqual({ name: 'ask', args: { question: 'help me understand the deploy' } });
    expect(classify('what is the status of billing?').name).toBe('ask');
  });

  it('/ask and plain text are questions; `ask …` without the slash works as Slack `/sb ask …` delivers it', () => {
    expect(classify('/ask how do we deploy?')).toEqual({ name: 'ask', args: { question: 'how do we deploy?' } });
    expect(classify('ask how do we deploy?')).toEqual({ name: 'ask', args: { question: 'how do we deploy?' } });
    expect(classify('why is the build red')).toEqual({ name: 'ask', args: { question: 'why is the build red' } });
  });

  it('+1, -1 and thumbs (with skin tones) are feedback with a score', () => {
    expect(classify('+1')).toEqual({ name: 'feedback', args: { score: 1 } });
    expect(classify(' -1 ')).toEqual({ name: 'feedback', args: { score: -1 } });
    expect(classify('👍')).toEqual({ name: 'feedback', args: { score: 1 } });
    expect(classify('👎🏽')).toEqual({ name: 'feedback', args: { score: -1 } });
    expect(classify(':thumbsup:').name).toBe('feedback');
    expect(classify('+1 to that plan').name).toBe('ask');
  });

  it('feedback may end in any run of . or !, and only at its end', () => {
    expect(classify('+1!!')).toEqual({ name: 'feedback', args: { score: 1 } });
    expect(classify('👍.')).toEqual({ name: 'feedback', args: { score: 1 } });
    expect(classify('!+1').name).toBe('ask');
  });

  it('/feedback carries its vote, and without one the agent asks for it', () => {
    expect(classify('/feedback +1')).toEqual({ name: 'feedback', args: { score: 1 } });
    expect(classify('/feedback 👎🏽')).toEqual({ name: 'feedback', args: { score: -1 } });
    expect(classify('/feedback')).toEqual({ name: 'feedback', args: {} });
    expect(classify('/feedback great')).toStrictEqual({ name: 'feedback', args: {} });
  });

  it('a slash makes any command word a command even with words after it', () => {
    expect(classify('/status please')).toEqual({ name: 'status', args: {} });
    expect(classify('status please').name).toBe('ask');
  });

  it('`review` without the slash takes a diff after it, but not other words', () => {
    expect(classify(`review\n${DIFF}`)).toEqual({ name: 'review', args: { diff: DIFF } });
    expect(classify('review this later please')).toEqual({ name: 'ask', args: { question: 'review this later please' } });
    expect(classify(`help\n${DIFF}`)).toEqual({ name: 'review', args: { diff: `help\n${DIFF}` } });
  });

  it('a pasted diff is a review with the diff as argument', () => {
    expect(classify(DIFF)).toEqual({ name: 'review', args: { diff: DIFF } });
    expect(classify(`can you check this?\n${DIFF}`).name).toBe('review');
  });

  it('/review carries the diff that follows it, and works with no diff (the agent explains)', () => {
    expect(classify(`/review\n${DIFF}`)).toEqual({ name: 'review', args: { diff: DIFF } });
    expect(classify('/review')).toEqual({ name: 'review', args: {} });
  });

  it('a Slack mention or a Telegram @bot suffix does not hide the command', () => {
    expect(classify('<@U012ABC> status').name).toBe('status');
    expect(classify('/help@switchboard_bot').name).toBe('help');
  });

  it('unknown slash commands are questions', () => {
    expect(classify('/deploy prod')).toEqual({ name: 'ask', args: { question: '/deploy prod' } });
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
});
