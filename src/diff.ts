/** Unified-diff parser: git output, plain `diff -u`, or a bare hunk pasted into chat. */

export type DiffLine = { kind: 'add' | 'del' | 'context'; text: string; oldLine?: number; newLine?: number };

export type DiffHunk = { oldStart: number; oldLines: number; newStart: number; newLines: number; lines: DiffLine[] };

export type DiffFileStatus = 'added' | 'deleted' | 'modified' | 'renamed';

/** `path` is the new path (the old one for a deleted file); `oldPath` is null for an added file. */
export type DiffFile = { path: string; oldPath: string | null; status: DiffFileStatus; binary: boolean; hunks: DiffHunk[] };

/** Path given to hunks pasted without any file header. */
export const UNNAMED_PATH = '(unnamed)';

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;
const GIT = /^diff --git (.+)$/;
const BINARY = /^Binary files (.+) and (.+) differ$/;

type Draft = { oldName: string | null; newName: string | null; added: boolean; deleted: boolean; renamed: boolean; binary: boolean; hunks: DiffHunk[] };

/** Parses every file in `text`. Lines outside files and hunks (chat prose, code fences, `index` lines) are ignored. */
export function parseDiff(text: string): DiffFile[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const files: DiffFile[] = [];
  let draft: Draft | null = null;
  const flush = (): void => {
    if (draft) files.push(finish(draft));
    draft = null;
  };
  const start = (): Draft => ({ oldName: null, newName: null, added: false, deleted: false, renamed: false, binary: false, hunks: [] });

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const git = GIT.exec(line);
    if (git) {
      flush();
      draft = start();
      [draft.oldName, draft.newName] = splitGitPaths(git[1]);
      continue;
    }
    // A `---`/`+++` pair opens a new file unless a git header already opened one that has no hunks yet.
    if (line.startsWith('--- ') && lines[i + 1]?.startsWith('+++ ')) {
      if (!draft || draft.hunks.length > 0) {
        flush();
        draft = start();
      }
      draft.oldName = headerPath(line.slice(4));
      draft.newName = headerPath(lines[i + 1].slice(4));
      if (draft.oldName === null) draft.added = true;
      if (draft.newName === null) draft.deleted = true;
      i++;
      continue;
    }
    const hunk = HUNK.exec(line);
    if (hunk) {
      draft ??= start();
      i = readHunk(lines, i, hunk, draft.hunks);
      continue;
    }
    if (!draft) continue;
    if (line.startsWith('new file mode')) draft.added = true;
    else if (line.startsWith('deleted file mode')) draft.deleted = true;
    else if (line.startsWith('rename from ') || line.startsWith('copy from ')) {
      draft.oldName = unquote(line.slice(line.indexOf(' from ') + 6));
      // A copy leaves the source in place, so for review purposes the destination is a new file.
      if (line.startsWith('rename')) draft.renamed = true;
      else draft.added = true;
    } else if (line.startsWith('rename to ') || line.startsWith('copy to ')) {
      draft.newName = unquote(line.slice(line.indexOf(' to ') + 4));
    } else if (line === 'GIT binary patch' || BINARY.test(line)) {
      draft.binary = true;
      const names = BINARY.exec(line);
      if (names) {
        if (names[1] === '/dev/null') draft.added = true;
        if (names[2] === '/dev/null') draft.deleted = true;
      }
    }
  }
  flush();
  return files;
}

/** New-side line numbers present in the hunks: the only lines GitHub accepts an inline RIGHT comment on. */
export function commentableLines(file: DiffFile): Set<number> {
  const lines = new Set<number>();
  for (const hunk of file.hunks) {
    for (const line of hunk.lines) if (line.newLine !== undefined) lines.add(line.newLine);
  }
  return lines;
}

/** Reads one hunk body, driven by the header counts so a deleted line starting `-- ` is not mistaken for a header. */
function readHunk(lines: string[], at: number, header: RegExpExecArray, hunks: DiffHunk[]): number {
  const hunk: DiffHunk = {
    oldStart: Number(header[1]),
    oldLines: header[2] === undefined ? 1 : Number(header[2]),
    newStart: Number(header[3]),
    newLines: header[4] === undefined ? 1 : Number(header[4]),
    lines: [],
  };
  hunks.push(hunk);
  let oldLine = hunk.oldStart;
  let newLine = hunk.newStart;
  let oldLeft = hunk.oldLines;
  let newLeft = hunk.newLines;
  let i = at + 1;
  for (; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith('\\')) continue; // "\ No newline at end of file" describes the line before it
    if (oldLeft <= 0 && newLeft <= 0) break;
    const mark = line[0];
    if (mark === '+' && newLeft > 0) {
      hunk.lines.push({ kind: 'add', text: line.slice(1), newLine: newLine++ });
      newLeft--;
    } else if (mark === '-' && oldLeft > 0) {
      hunk.lines.push({ kind: 'del', text: line.slice(1), oldLine: oldLine++ });
      oldLeft--;
    } else if ((mark === ' ' || line === '') && oldLeft > 0 && newLeft > 0) {
      // Chat clients trim trailing whitespace, turning a blank context line " " into "".
      hunk.lines.push({ kind: 'context', text: line.slice(1), oldLine: oldLine++, newLine: newLine++ });
      oldLeft--;
      newLeft--;
    } else {
      break; // the header counts lie (hand-edited diff): stop at the first line that cannot belong here
    }
  }
  return i - 1;
}

function finish(draft: Draft): DiffFile {
  const status: DiffFileStatus = draft.added ? 'added' : draft.deleted ? 'deleted' : draft.renamed ? 'renamed' : 'modified';
  const newName = draft.newName ?? draft.oldName ?? UNNAMED_PATH;
  const oldName = draft.oldName ?? draft.newName ?? UNNAMED_PATH;
  return {
    path: status === 'deleted' ? oldName : newName,
    oldPath: status === 'added' ? null : oldName,
    status,
    binary: draft.binary,
    hunks: draft.hunks,
  };
}

/** `--- a/x\t2024-01-01 …` → `x`; `/dev/null` → null. */
function headerPath(raw: string): string | null {
  const name = unquote(raw.split('\t')[0].trimEnd());
  if (name === '/dev/null') return null;
  return stripPrefix(name);
}

/** `a/x b/y` is ambiguous when paths contain spaces; git writes both halves equal unless renamed, so split in the middle. */
function splitGitPaths(raw: string): [string, string] {
  const quoted = /^"((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$/.exec(raw);
  if (quoted) return [stripPrefix(unquote(`"${quoted[1]}"`)), stripPrefix(unquote(`"${quoted[2]}"`))];
  const half = (raw.length - 1) / 2;
  if (Number.isInteger(half) && raw[half] === ' ') {
    const [a, b] = [raw.slice(0, half), raw.slice(half + 1)];
    if (stripPrefix(a) === stripPrefix(b)) return [stripPrefix(a), stripPrefix(b)];
  }
  const cut = raw.indexOf(' b/');
  return cut === -1 ? [stripPrefix(raw), stripPrefix(raw)] : [stripPrefix(raw.slice(0, cut)), stripPrefix(raw.slice(cut + 1))];
}

function stripPrefix(name: string): string {
  return /^[ab]\//.test(name) ? name.slice(2) : name;
}

/** Git quotes paths with unusual bytes C-style: `"a/tab\there"`. */
function unquote(name: string): string {
  if (!(name.startsWith('"') && name.endsWith('"') && name.length >= 2)) return name;
  const escapes: Record<string, string> = { n: '\n', t: '\t', '"': '"', '\\': '\\' };
  const bytes: number[] = [];
  const body = name.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    if (body[i] !== '\\') {
      bytes.push(...Buffer.from(body[i]));
    } else if (/[0-7]{3}/.test(body.slice(i + 1, i + 4))) {
      bytes.push(parseInt(body.slice(i + 1, i + 4), 8));
      i += 3;
    } else {
      bytes.push(...Buffer.from(escapes[body[i + 1]] ?? body[i + 1] ?? ''));
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
