import { describe, expect, it } from 'vitest';
import { commentableLines, parseDiff, UNNAMED_PATH } from '../src/diff.ts';

const GIT_DIFF = `diff --git a/src/app.ts b/src/app.ts
index 83db48f..bf269f4 100644
--- a/src/app.ts
+++ b/src/app.ts
@@ -1,5 +1,6 @@
 import { a } from './a.ts';
-import { b } from './b.ts';
+import { b, c } from './b.ts';
+import { d } from './d.ts';
 
 export function run() {
   return a + b;
@@ -20,3 +21,3 @@ export function stop() {
   const x = 1;
--- decrement marker
+++ increment marker
 }
\\ No newline at end of file
diff --git a/src/new.ts b/src/new.ts
new file mode 100644
index 0000000..e69de29
--- /dev/null
+++ b/src/new.ts
@@ -0,0 +1,2 @@
+export const x = 1;
+export const y = 2;
diff --git a/src/gone.ts b/src/gone.ts
deleted file mode 100644
index e69de29..0000000
--- a/src/gone.ts
+++ /dev/null
@@ -1 +0,0 @@
-export const gone = true;
diff --git a/docs/old name.md b/docs/new name.md
similarity index 90%
rename from docs/old name.md
rename to docs/new name.md
index 1..2 100644
--- a/docs/old name.md
+++ b/docs/new name.md
@@ -3 +3 @@
-old
+new
diff --git a/assets/logo.png b/assets/logo.png
index 1..2 100644
Binary files a/assets/logo.png and b/assets/logo.png differ
`;

describe('parseDiff', () => {
  const files = parseDiff(GIT_DIFF);

  it('finds every file of a git diff with its status', () => {
    expect(files.map((f) => [f.path, f.oldPath, f.status, f.binary])).toEqual([
      ['src/app.ts', 'src/app.ts', 'modified', false],
      ['src/new.ts', null, 'added', false],
      ['src/gone.ts', 'src/gone.ts', 'deleted', false],
      ['docs/new name.md', 'docs/old name.md', 'renamed', false],
      ['assets/logo.png', 'assets/logo.png', 'modified', true],
    ]);
  });

  it('numbers old and new lines through every hunk', () => {
    const [first, second] = files[0].hunks;
    expect(first).toMatchObject({ oldStart: 1, oldLines: 5, newStart: 1, newLines: 6 });
    expect(first.lines.map((l) => [l.kind, l.oldLine, l.newLine])).toEqual([
      ['context', 1, 1],
      ['del', 2, undefined],
      ['add', undefined, 2],
      ['add', undefined, 3],
      ['context', 3, 4],
      ['context', 4, 5],
      ['context', 5, 6],
    ]);
    expect(first.lines[2].text).toBe("import { b, c } from './b.ts';");
    expect(second.lines.map((l) => [l.kind, l.text, l.oldLine, l.newLine])).toEqual([
      ['context', '  const x = 1;', 20, 21],
      ['del', '-- decrement marker', 21, undefined],
      ['add', '++ increment marker', undefined, 22],
      ['context', '}', 22, 23],
    ]);
  });

  it('a removed line that starts with "-- " is content, not the next file header', () => {
    expect(files).toHaveLength(5);
    expect(files[0].hunks).toHaveLength(2);
  });

  it('binary and rename-only entries have no hunks', () => {
    expect(files[4].hunks).toEqual([]);
    expect(files[2].hunks[0].lines).toEqual([{ kind: 'del', text: 'export const gone = true;', oldLine: 1 }]);
  });

  it('a bare hunk pasted into chat is parsed as one unnamed file', () => {
    const [file] = parseDiff('@@ -10,2 +10,3 @@\n const a = 1;\n+const b = 2;\n const c = 3;');
    expect(file).toMatchObject({ path: UNNAMED_PATH, status: 'modified' });
    expect([...commentableLines(file)]).toEqual([10, 11, 12]);
  });

  it('plain `diff -u` output with timestamps and CRLF line endings parses', () => {
    const text = '--- lib/x.py\t2024-05-01 10:00:00\r\n+++ lib/x.py\t2024-05-02 10:00:00\r\n@@ -1 +1,2 @@\r\n x = 1\r\n+y = 2\r\n';
    const [file] = parseDiff(text);
    expect(file.path).toBe('lib/x.py');
    expect(file.hunks[0].lines.at(-1)).toEqual({ kind: 'add', text: 'y = 2', newLine: 2 });
  });

  it('chat prose and code fences around a diff are ignored, and trimmed blank context lines still count', () => {
    const text = 'please look:\n```diff\n--- a/a.ts\n+++ b/a.ts\n@@ -1,3 +1,4 @@\n one\n\n+two\n three\n```\nthanks!';
    const [file] = parseDiff(text);
    expect(file.hunks[0].lines.map((l) => [l.kind, l.newLine])).toEqual([
      ['context', 1],
      ['context', 2],
      ['add', 3],
      ['context', 4],
    ]);
    expect(parseDiff(text)).toHaveLength(1);
  });

  it('git-quoted paths with unusual characters are unquoted', () => {
    const [file] = parseDiff(
      'diff --git "a/caf\\303\\251.txt" "b/caf\\303\\251.txt"\nnew file mode 100644\n--- /dev/null\n+++ "b/caf\\303\\251.txt"\n@@ -0,0 +1 @@\n+hi',
    );
    expect(file).toMatchObject({ path: 'café.txt', status: 'added' });
  });

  it('text without hunks or headers yields no files', () => {
    expect(parseDiff('just a chat message')).toEqual([]);
  });
});

describe('commentableLines', () => {
  it('holds exactly the new-side lines present in hunks: additions and context, not deletions', () => {
    const lines = commentableLines(parseDiff(GIT_DIFF)[0]);
    expect([...lines].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 21, 22, 23]);
    expect(lines.has(7)).toBe(false);
  });

  it('a deleted file has nothing to comment on', () => {
    expect(commentableLines(parseDiff(GIT_DIFF)[2]).size).toBe(0);
  });
});
