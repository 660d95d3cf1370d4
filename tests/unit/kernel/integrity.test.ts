// A cached kernel is checked against its manifest when a run resolves it:
// a corrupt build of a recipe is named, moved aside and built again (here
// from a stand-in tree whose Makefile "builds" in milliseconds); an
// imported kernel, or one named by key or directory, is refused with the
// command that brings it back, as bad input (exit 2), never as an
// infrastructure error.
import test from 'ava';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportArtifact, fetchArtifact } from '../../../harness/kernel/archive.ts';
import { buildKernel } from '../../../harness/kernel/pipeline.ts';
import { resolveKernelRef } from '../../../harness/kernel/refs.ts';
import { checkArtifact, CorruptKernel } from '../../../harness/kernel/integrity.ts';
import { kernelsRoot, listArtifacts } from '../../../harness/kernel/store.ts';
import { type KernelArtifact } from '../../../harness/kernel/artifact.ts';
import { ConfigError, EXIT, exitCodeOf } from '../../../harness/errors.ts';
import { sha256 } from '../../../harness/util/hash.ts';
import { scratchDir } from '../../helpers/scratch.ts';
import { makeArtifact } from '../../helpers/artifact.ts';
import { movedAside, zero8 } from '../../helpers/corrupt.ts';

const asideOf = (cache: string, key: string) => movedAside(kernelsRoot(cache), key);
const zero = (path: string) => zero8(path, 512);

test('an intact kernel named by key resolves as it is, and nothing is moved', async (t) => {
  const { cache, artifact, key } = await makeArtifact();
  const got = await resolveKernelRef(key, { cache });
  t.is(got.dir, artifact.dir);
  t.deepEqual(await checkArtifact(got), []);
  t.deepEqual(asideOf(cache, key), []);
});

test('a kernel named by key with 8 zeroed bytes in its bzImage is refused as bad input, naming the file and both hashes; the entry is moved aside', async (t) => {
  const { cache, artifact, key } = await makeArtifact();
  const bz = join(artifact.dir, 'bzImage');
  const { before, after } = zero(bz);
  const e = await t.throwsAsync(resolveKernelRef(key, { cache }), { instanceOf: CorruptKernel });
  t.true(e instanceof ConfigError);
  t.is(exitCodeOf(e), EXIT.badInput, 'never an infrastructure error');
  const [aside] = asideOf(cache, key);
  t.truthy(aside, 'moved aside');
  t.is(
    e!.message,
    `The cached kernel unit (${key.slice(0, 12)}) is corrupt: ${bz} has sha256 ${after}, its manifest says ${before}. ` +
      `Moved it aside to ${join(kernelsRoot(cache), aside!)}. ` +
      'Build it again with `luo-harness kernel build <the recipe file of unit>`, or name the recipe (--kernel <the recipe file of unit>) to build it as the run starts.',
  );
  t.is(sha256(readFileSync(join(kernelsRoot(cache), aside!, 'bzImage'))), after, 'the corrupt bytes are kept');
  t.deepEqual(await listArtifacts(cache), [], 'never read again');
  await t.throwsAsync(resolveKernelRef(key, { cache }), { instanceOf: ConfigError, message: /no kernel artifact with key/ });
});

test('a corrupt config is found too; a corrupt header only when the headers are asked for', async (t) => {
  const { cache, artifact, key } = await makeArtifact();
  writeFileSync(join(artifact.dir, 'headers', 'include', 'linux', 'liveupdate.h'), '#define LIVEUPDATE_IOCTL_TYPE 0x00\n');
  t.deepEqual(await checkArtifact(artifact), [], 'a run that boots reads no header');
  const [m] = await checkArtifact(artifact, ['headers']);
  t.is(m!.path, join(artifact.dir, 'headers', 'include', 'linux', 'liveupdate.h'));
  writeFileSync(join(artifact.dir, 'config'), 'CONFIG_LIVEUPDATE=n\n');
  await t.throwsAsync(resolveKernelRef(key, { cache }), { instanceOf: CorruptKernel, message: new RegExp(`: ${artifact.dir}/config has sha256 ${sha256('CONFIG_LIVEUPDATE=n\n')}, its manifest says ${sha256('CONFIG_LIVEUPDATE=y\n')}\\.`) });
});

test("a coverage kernel's System.map is checked whenever it runs (its counters are found by it); a plain kernel has none to check", async (t) => {
  const { cache, artifact, key } = await makeArtifact({ coverage: true });
  t.deepEqual(await checkArtifact(artifact), []);
  writeFileSync(join(artifact.dir, 'coverage', 'System.map'), 'ffffffff81000000 T _stext\n');
  await t.throwsAsync(resolveKernelRef(key, { cache }), { instanceOf: CorruptKernel, message: new RegExp(`: ${artifact.dir}/coverage/System\\.map has sha256 ${sha256('ffffffff81000000 T _stext\n')}, its manifest says`) });
});

test('an imported kernel that is corrupt is refused with the command that imports it again', async (t) => {
  const { artifact, key } = await makeArtifact();
  const tarball = join(scratchDir('tar-'), 'k.tar.gz');
  await exportArtifact(artifact, tarball);
  const cache = scratchDir('cache-');
  const imported = await fetchArtifact(cache, tarball);
  const bz = join(imported.dir, 'bzImage');
  const { before, after } = zero(bz);
  const e = await t.throwsAsync(resolveKernelRef(key.slice(0, 10), { cache }), { instanceOf: CorruptKernel });
  t.is(exitCodeOf(e), EXIT.badInput);
  const [aside] = asideOf(cache, key);
  t.is(
    e!.message,
    `The cached kernel unit (${key.slice(0, 12)}) is corrupt: ${bz} has sha256 ${after}, its manifest says ${before}. ` +
      `Moved it aside to ${join(kernelsRoot(cache), aside!)}. ` +
      `It was imported, so it is not built here: import it again with \`luo-harness kernel fetch ${tarball}\` (or build it from its recipe with \`luo-harness kernel build <the recipe file of unit>\`).`,
  );
  // The command it names works: the import comes back intact.
  const again = await fetchArtifact(cache, tarball);
  t.deepEqual(await checkArtifact(again), []);
  t.is((await resolveKernelRef(key, { cache })).dir, imported.dir);
});

test('fetching a kernel whose cached copy is corrupt replaces that copy (moved aside) instead of keeping it', async (t) => {
  const { artifact, key } = await makeArtifact();
  const tarball = join(scratchDir('tar-'), 'k.tar.gz');
  await exportArtifact(artifact, tarball);
  const cache = scratchDir('cache-');
  const first = await fetchArtifact(cache, tarball);
  zero(join(first.dir, 'bzImage'));
  const second = await fetchArtifact(cache, tarball);
  t.deepEqual(await checkArtifact(second), []);
  t.is(asideOf(cache, key).length, 1);
});

test('an artifact directory outside the cache that is corrupt is refused and left where it is', async (t) => {
  const { artifact } = await makeArtifact();
  const dir = join(scratchDir('mine-'), 'kernel');
  cpSync(artifact.dir, dir, { recursive: true });
  const { before, after } = zero(join(dir, 'bzImage'));
  const e = await t.throwsAsync(resolveKernelRef(dir, { cache: scratchDir('cache-') }), { instanceOf: CorruptKernel });
  t.true(e!.message.includes(`${dir}/bzImage has sha256 ${after}, its manifest says ${before}. Replace ${dir} with an intact copy`), e!.message);
  t.true(existsSync(join(dir, 'bzImage')));
});

/** A stand-in kernel tree: its Makefile answers the targets the build runs, in milliseconds. */
function standInRecipe() {
  const dir = scratchDir('tree-');
  const tree = join(dir, 'linux');
  mkdirSync(tree);
  writeFileSync(join(tree, 'Kconfig'), 'config LIVEUPDATE\n\tbool "Live Update"\n');
  writeFileSync(
    join(tree, 'Makefile'),
    [
      'allnoconfig:',
      '\tcp $(KCONFIG_ALLCONFIG) $(O)/.config',
      'olddefconfig:',
      '\t@true',
      'bzImage:',
      '\tmkdir -p $(O)/arch/x86/boot $(O)/include/config',
      "\thead -c 4096 /dev/zero | tr '\\0' k > $(O)/arch/x86/boot/bzImage",
      '\techo 7.2.0-standin > $(O)/include/config/kernel.release',
      'headers_install:',
      '\tmkdir -p $(INSTALL_HDR_PATH)/include/linux',
      "\techo '#define LIVEUPDATE_IOCTL_TYPE 0xBA' > $(INSTALL_HDR_PATH)/include/linux/liveupdate.h",
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'luo.config'), 'CONFIG_KEXEC_FILE=y\nCONFIG_KEXEC_HANDOVER=y\nCONFIG_LIVEUPDATE=y\n');
  const recipe = join(dir, 'standin.json');
  writeFileSync(recipe, JSON.stringify({ name: 'standin', source: { type: 'local', path: tree }, config: { base: 'allnoconfig', fragments: ['luo.config'] }, cmdline: ['liveupdate=on'] }));
  return recipe;
}

test('a corrupt build of a recipe is named with both hashes, moved aside and built again; the run goes on with the new build', async (t) => {
  const cache = scratchDir('cache-');
  const recipe = standInRecipe();
  const quiet = { cache, quiet: true, warn: () => t.fail('nothing to warn about on a first build') };
  const built = await buildKernel(recipe, quiet);
  const again = await buildKernel(recipe, quiet);
  t.is(again.dir, built.dir, 'the cache serves an intact build');
  const bz = join(built.dir, 'bzImage');
  const { before, after } = zero(bz);

  const warnings: string[] = [];
  const rebuilt: KernelArtifact = await resolveKernelRef(recipe, { cache, quiet: true, warn: (m) => warnings.push(m) });
  const [aside] = asideOf(cache, built.manifest.key);
  t.truthy(aside);
  t.deepEqual(warnings, [
    `The cached kernel standin (${built.manifest.key.slice(0, 12)}) is corrupt: ${bz} has sha256 ${after}, its manifest says ${before}. ` +
      `Moved it aside to ${join(kernelsRoot(cache), aside!)}. Building it again from its recipe.`,
  ]);
  t.is(rebuilt.manifest.key, built.manifest.key);
  t.is(rebuilt.dir, built.dir);
  t.is(sha256(readFileSync(join(rebuilt.dir, 'bzImage'))), before, 'the same kernel again');
  t.deepEqual(await checkArtifact(rebuilt), []);
});

test('a build of a recipe whose manifest cannot be read is moved aside and built again', async (t) => {
  const cache = scratchDir('cache-');
  const recipe = standInRecipe();
  const built = await buildKernel(recipe, { cache, quiet: true });
  writeFileSync(join(built.dir, 'manifest.json'), Buffer.alloc(64));
  const warnings: string[] = [];
  const rebuilt = await buildKernel(recipe, { cache, quiet: true, warn: (m) => warnings.push(m) });
  t.is(warnings.length, 1);
  t.true(warnings[0]!.startsWith(`The cached kernel ${built.manifest.key.slice(0, 12)} is corrupt: ${built.dir}/manifest.json cannot be read as a manifest. Moved it aside to `), warnings[0]);
  t.deepEqual(await checkArtifact(rebuilt), []);
});
