/** The one splitter, case by case: by UTF-16 units (Telegram, WhatsApp) and by Slack's measure, which counts escapes. */
import { describe, expect, it } from 'vitest';
import { fitting } from '../channels/slack/index.ts';
import { fitUnits, splitMessage } from '../src/split.ts';

const splitSlack = (text: string, limit: number) => splitMessage(text, { limit, fences: true, fitting });

const LONE_SURROGATE = /^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/;

describe('splitMessage', () => {
  it('keeps text that fits, to the last character, in one piece without its surrounding whitespace', () => {
    expect(splitMessage('  hello  ', { limit: 10 })).toEqual(['hello']);
    expect(splitMessage('abcdefghij', { limit: 10 })).toEqual(['abcdefghij']);
    expect(splitMessage('abcde fghij', { limit: 11 })).toEqual(['abcde fghij']);
    expect(splitMessage('', { limit: 10 })).toEqual(['']);
  });

  it('never cuts inside an emoji, whatever the limit', () => {
    const text = '😀'.repeat(12);
    for (const limit of [3, 5, 7]) {
      const parts = splitMessage(text, { limit });
      expect(parts.join('')).toBe(text);
      for (const part of parts) {
        expect(part.length).toBeLessThanOrEqual(limit);
        expect(part).not.toMatch(LONE_SURROGATE);
      }
    }
  });

  it('cuts at a line break in the second half of the window, else at the last space', () => {
    // The break at 5 is exactly half of the 10-character window: it still counts.
    expect(splitMessage('aaaaa\nbb cc dd', { limit: 10 })).toEqual(['aaaaa', 'bb cc dd']);
    // A break early in the window would make a short piece: the last space is taken instead.
    expect(splitMessage('a\nbbb ccc ddd', { limit: 10 })).toEqual(['a\nbbb ccc', 'ddd']);
  });

  it('drops only the whitespace at a cut, and keeps the spaces after a word cut for being too long', () => {
    expect(splitMessage('aaaa  bbbb', { limit: 6 })).toEqual(['aaaa', 'bbbb']);
    expect(splitMessage(`${'x'.repeat(12)} yy`, { limit: 10 })).toEqual(['x'.repeat(10), 'xx yy']);
  });

  it('keeps a lone high surrogate at the very end of a text that fits (malformed UTF-16, as slice leaves it), and the split ends', () => {
    const text = 'aaaa bbbb\uD800';
    expect(fitUnits(text, 10)).toBe(10);
    expect(splitMessage(text, { limit: 10 })).toEqual([text]);
    expect(splitMessage(`aaaa ${text}`, { limit: 10 })).toEqual(['aaaa aaaa', 'bbbb\uD800']);
  });

  it('closes and reopens a code fence only when asked to', () => {
    const text = '```\naaa bbb ccc ddd\n```';
    expect(splitMessage(text, { limit: 14 })).toEqual(['```\naaa bbb', 'ccc ddd\n```']);
    expect(splitMessage(text, { limit: 16, fences: true })).toEqual(['```\naaa bbb\n```', '```\nccc ddd\n```']);
    // A fence left open to the end, over a line longer than a message: every piece carries code, and the split ends.
    expect(splitMessage(`\`\`\`\n${'x'.repeat(30)}`, { limit: 20, fences: true })).toEqual([
      `\`\`\`\n${'x'.repeat(12)}\n\`\`\``,
      `\`\`\`\n${'x'.repeat(12)}\n\`\`\``,
      `\`\`\`\n${'x'.repeat(6)}`,
    ]);
  });
});

describe("the splitter with Slack's measure", () => {
  it('counts &, < and > as Slack escapes them, so a piece fits once escaped', () => {
    for (const ch of ['&', '<', '>']) {
      const parts = splitSlack(`${ch.repeat(30)} ${ch.repeat(30)}`, 100);
      const escaped = parts.map((p) => p.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;'));
      for (const piece of escaped) expect(piece.length).toBeLessThanOrEqual(100);
      expect(parts.join('').replaceAll(' ', '')).toBe(ch.repeat(60));
    }
    // "a & b" escapes to 9 characters: it fits 9; one more letter does not.
    expect(splitSlack('a & b', 9)).toEqual(['a & b']);
    // What fits is never more than the text has, however much room is left.
    expect(fitting('a & b', 9)).toBe(5);
    expect(fitting('a & b', 100)).toBe(5);
    expect(splitSlack('a & bc', 9)).toEqual(['a', '& bc']);
  });

  it('never cuts inside an emoji, and keeps a text that fits whole', () => {
    const text = '😀'.repeat(12);
    for (const limit of [7, 9]) {
      const parts = splitSlack(text, limit);
      expect(parts.join('')).toBe(text);
      for (const part of parts) expect(part).not.toMatch(LONE_SURROGATE);
    }
    expect(splitSlack('  hello  ', 5)).toEqual(['hello']);
    expect(splitSlack('', 5)).toEqual(['']);
  });

  it('cuts at a paragraph, a line or a space in the second half of the window, and drops only the whitespace there', () => {
    expect(splitSlack('aaaaaaaaaaaaaa\n\nbbbbbb bbbbbbb', 24)).toEqual(['aaaaaaaaaaaaaa', 'bbbbbb bbbbbbb']);
    expect(splitSlack('aaaaaaaaaaaaaa\nbbbbbb cccccc', 24)).toEqual(['aaaaaaaaaaaaaa', 'bbbbbb cccccc']);
    expect(splitSlack('aaaaaaaaaaaa bbbbbbbbbbbb', 20)).toEqual(['aaaaaaaaaaaa', 'bbbbbbbbbbbb']);
    // The space at 8 is exactly half of the 16-character window (20 less room for a fence): it still counts.
    expect(splitSlack(`aaaaaaaa ${'b'.repeat(15)}`, 20)).toEqual(['aaaaaaaa', 'b'.repeat(15)]);
    expect(splitSlack('aaaaaaaaaaaaa   bbbbbbbbbbbbbb', 20)).toEqual(['aaaaaaaaaaaaa', 'bbbbbbbbbbbbbb']);
    expect(splitSlack(`${'x'.repeat(30)} yy`, 20)).toEqual(['x'.repeat(16), `${'x'.repeat(14)} yy`]);
  });

  it('cuts a word shorter than the limit nowhere, even when the window has no break in its second half', () => {
    // Slack's own splitter once cut here ('a bbbbbbbbbbbbbb' + 'b cc ddd'); the shared one falls back to the last space.
    expect(splitSlack('a bbbbbbbbbbbbbbb cc ddd', 20)).toEqual(['a', 'bbbbbbbbbbbbbbb', 'cc ddd']);
    // Counted as Slack escapes them: fifteen & are 75 characters, which fit a window of 75 (79 less room for a fence).
    expect(splitSlack('a &&&&&&&&&&&&&&& cc', 79)).toEqual(['a', '&&&&&&&&&&&&&&& cc']);
  });

  it('counts a lone high surrogate at the very end (malformed UTF-16) as one unit, not the pair it does not start', () => {
    const text = 'aaaa bbbb\uD800';
    expect(fitting(text, 10)).toBe(10);
    expect(fitting(text, 9)).toBe(9);
    expect(splitSlack(text, 10)).toEqual([text]);
  });

  it('closes a code fence a cut leaves open and reopens it in the next piece', () => {
    expect(splitSlack('```\naaaaaaaaa bbbbbbbbb\n```', 20)).toEqual(['```\naaaaaaaaa\n```', '```\nbbbbbbbbb\n```']);
  });
});
