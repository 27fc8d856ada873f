/**
 * Splitting a long answer into the messages a chat platform accepts, without losing text or cutting words. The one
 * splitter: each platform passes its own measure (Slack counts the escapes of &, < and >), so none lives here.
 */

/** Room kept in each piece to close a code fence that a cut leaves open. */
const FENCE_ROOM = 4;

/** Where a cut at `end` would not split a surrogate pair (an emoji). */
function safeEnd(text: string, end: number): number {
  return end > 0 && end < text.length && /[\uD800-\uDBFF]/.test(text[end - 1]!) ? end - 1 : end;
}

/** How many leading UTF-16 units of `text` fit in `limit`, never splitting a surrogate pair: the measure most platforms use. */
export function fitUnits(text: string, limit: number): number {
  return safeEnd(text, Math.min(limit, text.length));
}

function lastWhitespace(window: string): number {
  for (let i = window.length - 1; i > 0; i--) if (/\s/.test(window[i]!)) return i;
  return -1;
}

/**
 * Splits text into pieces that measure at most `limit` by the platform's `fitting` (default: UTF-16 units): at the
 * last paragraph break, else line break, in the second half of the window, else at the last whitespace, so a word is
 * only ever cut when it is longer than a whole message, and never inside an emoji. Nothing is lost but the whitespace at a cut. With `fences`, a code fence open
 * at a cut is closed and reopened so each piece renders on its own.
 */
export function splitMessage(text: string, opts: { limit: number; fences?: boolean; fitting?(text: string, limit: number): number }): string[] {
  const { limit, fences = false, fitting = fitUnits } = opts;
  const parts: string[] = [];
  let rest = text.trim();
  while (fitting(rest, limit) < rest.length) {
    const fit = fitting(rest, fences ? limit - FENCE_ROOM : limit);
    const window = rest.slice(0, fit);
    // A cut inside a fence's opening line leaves a piece holding only the fence; after a reopen, that repeats forever.
    const floor = fences && rest.startsWith('```') ? Math.max(rest.indexOf('\n'), 0) : 0;
    let cut = -1;
    for (const sep of ['\n\n', '\n']) {
      const at = window.lastIndexOf(sep);
      if (at >= fit / 2) {
        cut = at;
        break;
      }
    }
    if (cut < 0) cut = lastWhitespace(window);
    if (cut <= floor) cut = fit;
    let part = rest.slice(0, cut).trimEnd();
    rest = rest.slice(cut).replace(/^\s+/, '');
    if (fences && (part.match(/```/g) ?? []).length % 2 === 1) {
      part += '\n```';
      rest = `\`\`\`\n${rest}`;
    }
    parts.push(part);
  }
  if (rest || !parts.length) parts.push(rest);
  return parts;
}
