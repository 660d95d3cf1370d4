import test from 'ava';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPatches, parsePatchOutput, splitSeries } from '../../../harness/kernel/patches.ts';
import { preparePatchedTree } from '../../../harness/kernel/tree.ts';
import { ConfigError } from '../../../harness/errors.ts';
import { sha256 } from '../../../harness/util/hash.ts';

function smallTree(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tree-'));
  mkdirSync(join(dir, 'mm'), { recursive: true });
  writeFileSync(join(dir, 'mm', 'memfd.c'), 'int a;\nint b;\nint c;\nint d;\nint e;\n');
  writeFileSync(join(dir, 'Makefile'), 'all:\n');
  return dir;
}

// A hunk that changes the middle context line into `to`.
const hunk = (file: string, to: string, context = ['int a;', 'int b;', 'int c;']) =>
  `--- a/${file}\n+++ b/${file}\n@@ -1,3 +1,3 @@\n ${context[0]}\n-${context[1]}\n+${to}\n ${context[2]}\n`;

const digest = (p: string) => ({ path: p, digest: { name: p, sha256: sha256(readFileSync(p)) } });

test('a patch that applies reports the files it touched', async (t) => {
  const tree = smallTree();
  const p = join(mkdtempSync(join(tmpdir(), 'p-')), 'ok.patch');
  writeFileSync(p, hunk('mm/memfd.c', 'long b;'));
  t.deepEqual(await applyPatches([p], tree, () => {}), ['mm/memfd.c']);
  t.regex(readFileSync(join(tree, 'mm', 'memfd.c'), 'utf8'), /long b;/);
});

test('a patch that does not apply names the patch, the file and the hunk', async (t) => {
  const tree = smallTree();
  const p = join(mkdtempSync(join(tmpdir(), 'p-')), 'bad.patch');
  writeFileSync(p, hunk('mm/memfd.c', 'long b;', ['int x;', 'int y;', 'int z;']));
  const e = await t.throwsAsync(applyPatches([p], tree, () => {}), { instanceOf: ConfigError });
  t.regex(e!.message, /^patch bad\.patch does not apply in mm\/memfd\.c \(hunks do not apply: Hunk #1 FAILED at 1\)/);
  t.regex(readFileSync(join(tree, 'mm', 'memfd.c'), 'utf8'), /int b;/);
});

test('a patch for a file that does not exist says so', async (t) => {
  const tree = smallTree();
  const p = join(mkdtempSync(join(tmpdir(), 'p-')), 'missing.patch');
  writeFileSync(p, hunk('mm/nonesuch.c', 'long b;'));
  await t.throwsAsync(applyPatches([p], tree, () => {}), { instanceOf: ConfigError, message: /does not apply in mm\/nonesuch\.c \(a file it patches does not exist\)/ });
});

test('an mbox series is split per mail and a failure names the mail', async (t) => {
  const mail = (n: number, subject: string, body: string) =>
    `From 0123456789abcdef0123456789abcdef0123456${n} Mon Sep 17 00:00:00 2001\nFrom: Dev <dev@example.org>\nSubject: [PATCH ${n}/2] ${subject}\n\nwhy\n---\n${body}--\n2.47.0\n\n`;
  const series = mail(1, 'mm: widen b', hunk('mm/memfd.c', 'long b;')) + mail(2, 'mm: touch a line that is not there', hunk('mm/memfd.c', 'short q;', ['int a;', 'int q;', 'int c;']));
  t.deepEqual(splitSeries('series.mbox', series).map((u) => u.label), ['series.mbox [1/2] mm: widen b', 'series.mbox [2/2] mm: touch a line that is not there']);
  const tree = smallTree();
  const p = join(mkdtempSync(join(tmpdir(), 'p-')), 'series.mbox');
  writeFileSync(p, series);
  await t.throwsAsync(applyPatches([p], tree, () => {}), { message: /^patch series\.mbox \[2\/2\] mm: touch a line that is not there does not apply in mm\/memfd\.c/ });
});

test('patch output parsing recognises an already applied patch', (t) => {
  const r = parsePatchOutput('patching file mm/memfd.c\nReversed (or previously applied) patch detected!  Skipping patch.\n1 out of 1 hunk ignored\n');
  t.deepEqual(r.failure, { file: 'mm/memfd.c', hunks: [], reason: 'already applied (or reversed)' });
});

test('the private tree restores files an old series touched, with fresh mtimes', async (t) => {
  const pristine = smallTree();
  writeFileSync(join(pristine, 'mm', 'other.c'), 'int a;\nint b;\nint c;\n');
  const old = new Date(2020, 0, 1);
  for (const f of ['mm/memfd.c', 'mm/other.c']) utimesSync(join(pristine, f), old, old);
  const work = mkdtempSync(join(tmpdir(), 'work-'));
  const v1 = join(work, 'v1.patch');
  const v2 = join(work, 'v2.patch');
  writeFileSync(v1, hunk('mm/memfd.c', 'long b;') + hunk('mm/other.c', 'long b;'));
  writeFileSync(v2, hunk('mm/memfd.c', 'char b;'));
  const treeDir = join(work, 'tree');

  t.is(await preparePatchedTree(pristine, [digest(v1)], treeDir, () => {}), treeDir);
  t.regex(readFileSync(join(treeDir, 'mm', 'other.c'), 'utf8'), /long b;/);
  const before = Date.now() - 1000;

  await preparePatchedTree(pristine, [digest(v2)], treeDir, () => {});
  t.regex(readFileSync(join(treeDir, 'mm', 'memfd.c'), 'utf8'), /char b;/);
  t.is(readFileSync(join(treeDir, 'mm', 'other.c'), 'utf8'), 'int a;\nint b;\nint c;\n', 'reverted to pristine');
  t.true(statSync(join(treeDir, 'mm', 'other.c')).mtimeMs > before, 'a reverted file is newer than its old object');
  t.is(readFileSync(join(pristine, 'mm', 'memfd.c'), 'utf8'), 'int a;\nint b;\nint c;\nint d;\nint e;\n', 'pristine untouched');
  t.is(await preparePatchedTree(pristine, [], treeDir, () => {}), pristine, 'without patches the pristine tree is built as is');
});

test('a failed series leaves the tree dirty, so the next run starts from a clean copy', async (t) => {
  const pristine = smallTree();
  const work = mkdtempSync(join(tmpdir(), 'work-'));
  const good = join(work, 'good.patch');
  const bad = join(work, 'bad.patch');
  writeFileSync(good, hunk('mm/memfd.c', 'long b;'));
  writeFileSync(bad, hunk('mm/memfd.c', 'long q;', ['int x;', 'int y;', 'int z;']));
  const treeDir = join(work, 'tree');
  await t.throwsAsync(preparePatchedTree(pristine, [digest(good), digest(bad)], treeDir, () => {}), { instanceOf: ConfigError });
  await preparePatchedTree(pristine, [digest(good)], treeDir, () => {});
  t.regex(readFileSync(join(treeDir, 'mm', 'memfd.c'), 'utf8'), /long b;/);
});
