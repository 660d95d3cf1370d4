import test from 'ava';
import { existsSync, mkdirSync, writeFileSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { applyPatches, parsePatchOutput, splitSeries } from '../../../harness/kernel/patches.ts';
import { preparePatchedTree } from '../../../harness/kernel/tree.ts';
import { ConfigError } from '../../../harness/errors.ts';
import { sha256 } from '../../../harness/util/hash.ts';
import { scratchDir } from '../../helpers/scratch.ts';

function smallTree(): string {
  const dir = scratchDir('tree-');
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
  const p = join(scratchDir('p-'), 'ok.patch');
  writeFileSync(p, hunk('mm/memfd.c', 'long b;'));
  t.deepEqual(await applyPatches([{ path: p }], tree, () => {}), { touched: ['mm/memfd.c'], fuzzed: [] });
  t.regex(readFileSync(join(tree, 'mm', 'memfd.c'), 'utf8'), /long b;/);
});

test('a patch that does not apply names the patch, the file and the hunk', async (t) => {
  const tree = smallTree();
  const p = join(scratchDir('p-'), 'bad.patch');
  writeFileSync(p, hunk('mm/memfd.c', 'long b;', ['int x;', 'int y;', 'int z;']));
  const e = await t.throwsAsync(applyPatches([{ path: p }], tree, () => {}), { instanceOf: ConfigError });
  t.regex(e!.message, /^patch bad\.patch does not apply in mm\/memfd\.c \(hunks do not apply: Hunk #1 FAILED at 1\)/);
  t.regex(readFileSync(join(tree, 'mm', 'memfd.c'), 'utf8'), /int b;/);
});

test('a patch for a file that does not exist says so', async (t) => {
  const tree = smallTree();
  const p = join(scratchDir('p-'), 'missing.patch');
  writeFileSync(p, hunk('mm/nonesuch.c', 'long b;'));
  await t.throwsAsync(applyPatches([{ path: p }], tree, () => {}), { instanceOf: ConfigError, message: /does not apply in mm\/nonesuch\.c \(a file it patches does not exist\)/ });
});

test('an mbox series is split per mail and a failure names the mail', async (t) => {
  const mail = (n: number, subject: string, body: string) =>
    `From 0123456789abcdef0123456789abcdef0123456${n} Mon Sep 17 00:00:00 2001\nFrom: Dev <dev@example.org>\nSubject: [PATCH ${n}/2] ${subject}\n\nwhy\n---\n${body}--\n2.47.0\n\n`;
  const series = mail(1, 'mm: widen b', hunk('mm/memfd.c', 'long b;')) + mail(2, 'mm: touch a line that is not there', hunk('mm/memfd.c', 'short q;', ['int a;', 'int q;', 'int c;']));
  t.deepEqual(splitSeries('series.mbox', series).map((u) => u.label), ['series.mbox [1/2] mm: widen b', 'series.mbox [2/2] mm: touch a line that is not there']);
  const tree = smallTree();
  const p = join(scratchDir('p-'), 'series.mbox');
  writeFileSync(p, series);
  await t.throwsAsync(applyPatches([{ path: p }], tree, () => {}), { message: /^patch series\.mbox \[2\/2\] mm: touch a line that is not there does not apply in mm\/memfd\.c/ });
});

test('patch output parsing recognises an already applied patch', (t) => {
  const r = parsePatchOutput('patching file mm/memfd.c\nReversed (or previously applied) patch detected!  Skipping patch.\n1 out of 1 hunk ignored\n');
  t.deepEqual(r.failure, { file: 'mm/memfd.c', hunks: [], reason: 'already applied (or reversed)' });
});

test('a cache-owned tree is patched in place: originals kept, restored when the series changes, with fresh mtimes', async (t) => {
  const tree = smallTree();
  writeFileSync(join(tree, 'mm', 'other.c'), 'int a;\nint b;\nint c;\n');
  const old = new Date(2020, 0, 1);
  for (const f of ['mm/memfd.c', 'mm/other.c']) utimesSync(join(tree, f), old, old);
  const work = scratchDir('work-');
  const v1 = join(work, 'v1.patch');
  const v2 = join(work, 'v2.patch');
  const created = join(work, 'new.patch');
  writeFileSync(v1, hunk('mm/memfd.c', 'long b;') + hunk('mm/other.c', 'long b;'));
  writeFileSync(v2, hunk('mm/memfd.c', 'char b;'));
  writeFileSync(created, '--- /dev/null\n+++ b/mm/added.c\n@@ -0,0 +1 @@\n+int added;\n');
  const opts = { inPlace: true, copyDir: join(work, 'unused'), say: () => {} };

  t.is((await preparePatchedTree(tree, [digest(v1), digest(created)], opts)).tree, tree);
  t.regex(readFileSync(join(tree, 'mm', 'other.c'), 'utf8'), /long b;/);
  t.true(existsSync(join(tree, 'mm', 'added.c')));
  const before = Date.now() - 1000;

  await preparePatchedTree(tree, [digest(v2)], opts);
  t.regex(readFileSync(join(tree, 'mm', 'memfd.c'), 'utf8'), /char b;/);
  t.is(readFileSync(join(tree, 'mm', 'other.c'), 'utf8'), 'int a;\nint b;\nint c;\n', 'restored to the original');
  t.false(existsSync(join(tree, 'mm', 'added.c')), 'a file the old series created is gone');
  t.true(statSync(join(tree, 'mm', 'other.c')).mtimeMs > before, 'a restored file is newer than its old object');
  const memfdMtime = statSync(join(tree, 'mm', 'memfd.c')).mtimeMs;
  await preparePatchedTree(tree, [digest(v2)], opts);
  t.is(statSync(join(tree, 'mm', 'memfd.c')).mtimeMs, memfdMtime, 'the same series again touches nothing');
  await preparePatchedTree(tree, [], opts);
  t.is(readFileSync(join(tree, 'mm', 'memfd.c'), 'utf8'), 'int a;\nint b;\nint c;\nint d;\nint e;\n', 'no patches: the pristine tree');
});

test('a user\'s tree is never written: a recipe that patches it builds a copy', async (t) => {
  const tree = smallTree();
  const work = scratchDir('work-');
  const v1 = join(work, 'v1.patch');
  writeFileSync(v1, hunk('mm/memfd.c', 'long b;'));
  const copyDir = join(work, 'copy');
  t.is((await preparePatchedTree(tree, [digest(v1)], { inPlace: false, copyDir, say: () => {} })).tree, copyDir);
  t.regex(readFileSync(join(copyDir, 'mm', 'memfd.c'), 'utf8'), /long b;/);
  t.is(readFileSync(join(tree, 'mm', 'memfd.c'), 'utf8'), 'int a;\nint b;\nint c;\nint d;\nint e;\n');
  t.false(existsSync(join(tree, '.luo-harness')));
  t.is((await preparePatchedTree(tree, [], { inPlace: false, copyDir, say: () => {} })).tree, tree);
});

test('a failed series leaves the tree dirty; the next run restores every kept original first', async (t) => {
  const tree = smallTree();
  const work = scratchDir('work-');
  const good = join(work, 'good.patch');
  const bad = join(work, 'bad.patch');
  writeFileSync(good, hunk('mm/memfd.c', 'long b;'));
  writeFileSync(bad, hunk('mm/memfd.c', 'long q;', ['int x;', 'int y;', 'int z;']));
  const opts = { inPlace: true, copyDir: join(work, 'unused'), say: () => {} };
  await t.throwsAsync(preparePatchedTree(tree, [digest(good), digest(bad)], opts), { instanceOf: ConfigError });
  t.false(existsSync(join(tree, '.luo-harness', 'state.json')), 'dirty');
  await preparePatchedTree(tree, [], opts);
  t.is(readFileSync(join(tree, 'mm', 'memfd.c'), 'utf8'), 'int a;\nint b;\nint c;\nint d;\nint e;\n', 'the half-applied series is gone');
  await preparePatchedTree(tree, [digest(good)], opts);
  t.regex(readFileSync(join(tree, 'mm', 'memfd.c'), 'utf8'), /long b;/);
});

test('a hunk whose context drifted does not apply without fuzz; with --patch-fuzz it applies and is recorded', async (t) => {
  const work = scratchDir('p-');
  const p = join(work, 'drift.patch');
  // The context's first line no longer matches the tree ("int x;" vs "int a;").
  writeFileSync(p, hunk('mm/memfd.c', 'long b;', ['int x;', 'int b;', 'int c;']));
  const strict = await t.throwsAsync(applyPatches([{ path: p }], smallTree(), () => {}), { instanceOf: ConfigError });
  t.regex(strict!.message, /allow fuzz with the recipe's "patchFuzz" or --patch-fuzz N/);
  const tree = smallTree();
  const fuzzy = await applyPatches([{ path: p }], tree, () => {}, undefined, 1);
  t.deepEqual(fuzzy.fuzzed, [{ patch: 'drift.patch', hunks: ['mm/memfd.c hunk #1 at line 1 (fuzz 1)'] }]);
  t.regex(readFileSync(join(tree, 'mm', 'memfd.c'), 'utf8'), /long b;/);
});

test('a series input with `first` applies only its first patches', async (t) => {
  const mail = (n: number, body: string) =>
    `From 0123456789abcdef0123456789abcdef0123456${n} Mon Sep 17 00:00:00 2001\nFrom: Dev <dev@example.org>\nSubject: [PATCH ${n}/2] step ${n}\n\nwhy\n---\n${body}--\n2.47.0\n\n`;
  const p = join(scratchDir('p-'), 'two.mbox');
  writeFileSync(p, mail(1, hunk('mm/memfd.c', 'long b;')) + mail(2, hunk('mm/memfd.c', 'long d;', ['int c;', 'int d;', 'int e;'])));
  const tree = smallTree();
  t.deepEqual((await applyPatches([{ path: p, first: 1 }], tree, () => {})).touched, ['mm/memfd.c']);
  t.regex(readFileSync(join(tree, 'mm', 'memfd.c'), 'utf8'), /long b;\nint c;\nint d;/);
  await t.throwsAsync(applyPatches([{ path: p, first: 3 }], smallTree(), () => {}), { message: /two\.mbox has 2 patch\(es\); cannot apply the first 3/ });
});
