// The recipes the command line makes: --tree (checks of the tree, config
// modes), --series and bisect's prefixes (names, one shared build directory).
import test from 'ava';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../../harness/errors.ts';
import { checkKernelTree, coverageRecipe, parseTreeConfig, patchDirRecipe, seriesRecipe, treeRecipe } from '../../../harness/kernel/derived-recipes.ts';
import { loadRecipe, parseRecipe } from '../../../harness/kernel/recipe.ts';
import { repoRoot } from '../../../harness/paths.ts';
import { scratchDir } from '../../helpers/scratch.ts';

/** The smallest directory that passes for a kernel tree. */
function fakeTree(): string {
  const tree = scratchDir('linux-');
  writeFileSync(join(tree, 'Makefile'), '# SPDX-License-Identifier: GPL-2.0\nVERSION = 7\nPATCHLEVEL = 2\nSUBLEVEL = 13\n');
  writeFileSync(join(tree, 'Kconfig'), 'mainmenu "Linux"\n');
  mkdirSync(join(tree, 'arch', 'x86'), { recursive: true });
  return tree;
}

test('a directory without a kernel Makefile is no kernel tree', (t) => {
  const dir = scratchDir('plain-');
  t.throws(() => checkKernelTree(dir), { instanceOf: ConfigError, message: /is not a Linux kernel source tree/ });
  t.throws(() => checkKernelTree(join(dir, 'nope')), { instanceOf: ConfigError, message: /no such directory/ });
});

test('a tree configured or built in place is refused, naming what exists and what to do', (t) => {
  const tree = fakeTree();
  mkdirSync(join(tree, 'include', 'config'), { recursive: true });
  writeFileSync(join(tree, '.config'), 'CONFIG_64BIT=y\n');
  t.throws(() => checkKernelTree(tree), { message: /\(\.config, include\/config exist\).*make mrproper.*--config \.\.\/my\.config/ });
});

test('--tree: allnoconfig + the fragments by default, a config file with --config FILE, keep = $KBUILD_OUTPUT/.config', async (t) => {
  const cache = scratchDir('cache-');
  const tree = fakeTree();
  const file = await treeRecipe(tree, { cache });
  const r = await loadRecipe(file);
  t.regex(r.name, /^tree-linux-[A-Za-z0-9]+-[0-9a-f]{8}$/);
  t.deepEqual(r.source, { type: 'local', path: tree });
  t.is(r.config.base, 'allnoconfig');
  t.deepEqual(r.config.fragments, ['guest-minimal', 'liveupdate', 'iommu-vfio'].map((f) => join(repoRoot, 'kernels', 'config', `${f}.config`)));
  t.is(await treeRecipe(tree, { cache }), file, 'the same tree, the same recipe');

  const mine = join(cache, 'my.config');
  writeFileSync(mine, 'CONFIG_64BIT=y\n');
  const withFile = await loadRecipe(await treeRecipe(tree, { cache, config: parseTreeConfig(mine) }));
  t.deepEqual(withFile.config.base, { file: mine });
  t.not(withFile.name, r.name, 'its own build directory');
  t.throws(() => parseTreeConfig(join(cache, 'missing.config')), { message: /no such file/ });

  await t.throwsAsync(treeRecipe(tree, { cache, config: 'keep', env: {} }), { message: /KBUILD_OUTPUT is not set/ });
  const out = join(cache, 'out');
  mkdirSync(out);
  await t.throwsAsync(treeRecipe(tree, { cache, config: 'keep', env: { KBUILD_OUTPUT: out } }), { message: /out\/\.config does not exist/ });
  writeFileSync(join(out, '.config'), 'CONFIG_64BIT=y\n');
  t.deepEqual((await loadRecipe(await treeRecipe(tree, { cache, config: 'keep', env: { KBUILD_OUTPUT: out } }))).config.base, { file: join(out, '.config') });
});

test('--series appends the series to the base recipe; every prefix of it shares one build directory', async (t) => {
  const cache = scratchDir('cache-');
  const id = '20261124101500.1-ada@example.org';
  const whole = await loadRecipe(await seriesRecipe('luo-7.2', `<${id}>`, { cache }));
  const p2 = await loadRecipe(await seriesRecipe('luo-7.2', id, { cache, firsts: [2], patchFuzz: 1 }));
  t.regex(whole.name, /^luo-7\.2-s[0-9a-f]{8}$/);
  t.is(p2.name, `${whole.name}-p2`);
  t.is(whole.buildDir, p2.buildDir);
  t.deepEqual(whole.patches, [{ series: `<${id}>` }]);
  t.deepEqual(p2.patches, [{ series: id, first: 2 }]);
  t.is(p2.patchFuzz, 1);
  t.is(whole.upgradeTo, 'luo-7.3', 'the base recipe\'s pairing is kept');
  const mbox = join(repoRoot, 'tests', 'fixtures', 'series', 'memfd-luo-thread.mbox');
  const fromFile = await loadRecipe(await seriesRecipe('luo-7.2', mbox, { cache }));
  t.deepEqual(fromFile.patches, [{ series: mbox }]);
  await t.throwsAsync(seriesRecipe('luo-7.2', 'no/such/file.mbox', { cache }), { instanceOf: ConfigError });
});

test('two --series stack in order: prefixes cut the first one, then add the second patch by patch, one build directory for all', async (t) => {
  const cache = scratchDir('cache-');
  const a = join(repoRoot, 'tests', 'fixtures', 'series', 'memfd-luo-thread.mbox');
  const b = join(repoRoot, 'tests', 'fixtures', 'series', 'memfd-late-writes.mbox');
  const whole = await loadRecipe(await seriesRecipe('luo-7.2', [a, b], { cache }));
  t.deepEqual(whole.patches, [{ series: a }, { series: b }]);
  const inFirst = await loadRecipe(await seriesRecipe('luo-7.2', [a, b], { cache, firsts: [3, 0] }));
  t.deepEqual(inFirst.patches, [{ series: a, first: 3 }], 'the second series left out entirely');
  const intoSecond = await loadRecipe(await seriesRecipe('luo-7.2', [a, b], { cache, firsts: [undefined, 1] }));
  t.deepEqual(intoSecond.patches, [{ series: a }, { series: b, first: 1 }]);
  t.is(inFirst.name, `${whole.name}-p3.0`);
  t.is(intoSecond.name, `${whole.name}-pall.1`);
  t.is(new Set([whole.buildDir, inFirst.buildDir, intoSecond.buildDir]).size, 1);
  t.not((await loadRecipe(await seriesRecipe('luo-7.2', [b, a], { cache }))).name, whole.name, 'the order is part of what names it');
  t.is((await loadRecipe(await seriesRecipe('luo-7.2', a, { cache }))).name.length, whole.name.length);
});

test('--patches DIR: the files in name order, prefixes as recipes of their own sharing a build directory', async (t) => {
  const cache = scratchDir('cache-');
  const dir = scratchDir('patches-');
  for (const f of ['0002-b.patch', '0001-a.patch', 'notes.txt']) writeFileSync(join(dir, f), '--- a/x\n+++ b/x\n');
  const all = await loadRecipe(await patchDirRecipe('luo-7.2', dir, { cache }));
  const one = await loadRecipe(await patchDirRecipe('luo-7.2', dir, { cache, first: 1 }));
  t.deepEqual(all.patches.map((p) => ('file' in p ? p.file.split('/').pop() : '?')), ['0001-a.patch', '0002-b.patch']);
  t.deepEqual(one.patches.map((p) => ('file' in p ? p.file.split('/').pop() : '?')), ['0001-a.patch']);
  t.is(all.buildDir, one.buildDir);
  t.regex(readFileSync(join(cache, 'recipes', `${one.name}.json`), 'utf8'), /"buildDir"/);
});

test("--coverage: a recipe's twin adds the coverage fragment and a build directory of its own; its upgrade target is the target's twin", async (t) => {
  const cache = scratchDir('cache-');
  const file = await coverageRecipe('luo-7.2', { cache });
  const twin = await loadRecipe(file);
  const base = await loadRecipe('luo-7.2');
  t.is(twin.name, 'luo-7.2-coverage');
  t.true(twin.coverage);
  t.is(twin.buildDir, 'luo-7.2-coverage');
  t.deepEqual(twin.config.fragments, [...base.config.fragments, join(repoRoot, 'kernels', 'config', 'coverage.config')]);
  t.deepEqual(twin.source, base.source);
  t.is((await loadRecipe(twin.upgradeTo!)).name, 'luo-7.3-coverage');
  // A twin's twin is itself.
  t.is(await coverageRecipe(file, { cache }), file);
  t.throws(() => parseRecipe({ ...JSON.parse(readFileSync(file, 'utf8')), coverage: 'yes' }, 'r.json'), { instanceOf: ConfigError, message: 'recipe r.json: field "coverage" must be true or false' });
});
