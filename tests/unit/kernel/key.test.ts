import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { planBuild } from '../../../harness/kernel/pipeline.ts';
import { parseRecipe } from '../../../harness/kernel/recipe.ts';
import { scratchDir } from '../../helpers/scratch.ts';

const dir = scratchDir('key-');
writeFileSync(join(dir, 'linux.tar.xz'), 'pretend');
writeFileSync(join(dir, 'a.patch'), 'one');
writeFileSync(join(dir, 'b.patch'), 'two');
writeFileSync(join(dir, 'extra.config'), 'CONFIG_X=y\n');
const cache = scratchDir('cache-');

const recipe = (over: Record<string, unknown> = {}) =>
  parseRecipe({
    source: { type: 'tarball', path: 'linux.tar.xz', sha256: 'c'.repeat(64) },
    patches: ['a.patch'],
    config: { base: 'allnoconfig', fragments: ['liveupdate', 'extra.config'] },
    cmdline: ['liveupdate=on'],
    ...over,
  }, join(dir, 'k.json'));
const key = async (over: Record<string, unknown> = {}) => (await planBuild(recipe(over), cache)).key;

test.serial('the content key is stable for the same inputs', async (t) => {
  t.is(await key(), await key());
  t.regex(await key(), /^[0-9a-f]{24}$/);
});

test.serial('the content key changes with every input that decides the kernel', async (t) => {
  const base = await key();
  const variants: Record<string, unknown>[] = [
    { patches: ['b.patch'] },
    { patches: ['a.patch', 'b.patch'] },
    { patches: [] },
    { config: { base: 'defconfig', fragments: ['liveupdate', 'extra.config'] } },
    { config: { base: 'allnoconfig', fragments: ['extra.config', 'liveupdate'] } },
    { cmdline: ['liveupdate=on', 'kho=on'] },
    { source: { type: 'tarball', path: 'linux.tar.xz', sha256: 'd'.repeat(64) } },
    { name: 'other' },
  ];
  const keys = await Promise.all(variants.map((v) => key(v)));
  for (const [i, k] of keys.entries()) t.not(k, base, JSON.stringify(variants[i]));
  t.is(new Set(keys).size, keys.length);
});

test.serial('the content key follows file contents, not just names', async (t) => {
  const before = await key();
  writeFileSync(join(dir, 'a.patch'), 'one, revised');
  const afterPatch = await key();
  writeFileSync(join(dir, 'extra.config'), 'CONFIG_X=n\n');
  const afterFragment = await key();
  t.not(afterPatch, before);
  t.not(afterFragment, afterPatch);
});
