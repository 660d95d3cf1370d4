import test from 'ava';
import { addedLinesPerPatch, mapLine, parseDiff } from '../../../harness/kernel/patch-lines.ts';

const first = `--- a/kernel/x.c
+++ b/kernel/x.c
@@ -1,3 +1,5 @@
 int a;
+int new1;
+int new2;
 int b;
 int c;
@@ -10,2 +12,3 @@
 int j;
+int new3;
 int k;
--- /dev/null
+++ b/kernel/y.c
@@ -0,0 +1,2 @@
+int y1;
+int y2;
`;

test('a diff gives, per file after the patch, the line numbers of the lines it adds', (t) => {
  const d = parseDiff(first);
  t.deepEqual(d.get('kernel/x.c')!.added, [2, 3, 13]);
  t.deepEqual(d.get('kernel/y.c')!.added, [1, 2]);
  t.is(d.get('kernel/x.c')!.hunks.length, 2);
});

test('a later hunk shifts the lines below it, keeps its context lines and drops the lines it removes', (t) => {
  const { hunks } = parseDiff(`--- a/f.c\n+++ b/f.c\n@@ -4,3 +4,4 @@\n four\n-five\n+FIVE\n+extra\n six\n`).get('f.c')!;
  t.is(mapLine(2, hunks), 2); // above: unchanged
  t.is(mapLine(4, hunks), 4); // context
  t.is(mapLine(5, hunks), undefined); // replaced
  t.is(mapLine(6, hunks), 7); // context, shifted by one
  t.is(mapLine(20, hunks), 21); // below: shifted
  // A pure insertion after line 5 (a side of 0 lines names the line before).
  const insert = parseDiff(`--- a/f.c\n+++ b/f.c\n@@ -5,0 +6,2 @@\n+a\n+b\n`).get('f.c')!;
  t.deepEqual(insert.added, [6, 7]);
  t.is(mapLine(5, insert.hunks), 5);
  t.is(mapLine(6, insert.hunks), 8);
});

test("each patch's lines are carried to the final tree; a line a later patch rewrites becomes that patch's", (t) => {
  // p2 adds a line at the top and rewrites p1's first line.
  const lines = addedLinesPerPatch([{ label: 'p1', text: first }, { label: 'p2', text: `--- a/kernel/x.c\n+++ b/kernel/x.c\n@@ -0,0 +1,1 @@\n+int top;\n@@ -1,3 +2,3 @@\n int a;\n-int new1;\n+int new1_fixed;\n int new2;\n` }]);
  t.deepEqual(lines[0], { patch: 'p1', files: { 'kernel/x.c': [4, 14], 'kernel/y.c': [1, 2] } });
  t.deepEqual(lines[1], { patch: 'p2', files: { 'kernel/x.c': [1, 3] } });
});
