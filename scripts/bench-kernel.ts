// Kernel pipeline benchmarks (prints figures; asserts nothing):
//   1. luo-7.2 from scratch (fetch, extract, configure, build) in a fresh cache;
//   2. a second `kernel build` of the unchanged recipe, as a user runs it (CLI process);
//   3. a rebuild after changing one patch that touches one file.
// Usage: node --import tsx scripts/bench-kernel.ts [--keep]   (about 2 full builds)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildKernel } from '../harness/kernel/pipeline.ts';
import { parseRecipe } from '../harness/kernel/recipe.ts';
import { repoRoot } from '../harness/paths.ts';

const cache = mkdtempSync(join(tmpdir(), 'bench-kernel-'));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const time = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const t0 = performance.now();
  const v = await fn();
  return [v, performance.now() - t0];
};

try {
  const [first, scratchMs] = await time(() => buildKernel('luo-7.2', { cache, quiet: true }));
  console.log(`luo-7.2 from scratch (fetch + extract + configure + build): ${seconds(scratchMs)} (${first.manifest.release})`);

  const cli = () => execa('node', [join(repoRoot, 'bin', 'luo-harness.js'), 'kernel', 'build', '--recipe', 'luo-7.2'], { env: { LUO_HARNESS_CACHE: cache } });
  const hits: number[] = [];
  for (let i = 0; i < 5; i++) hits.push((await time(cli))[1]);
  hits.sort((a, b) => a - b);
  console.log(`second build of the unchanged recipe (CLI, cache hit): median ${seconds(hits[2]!)}, min ${seconds(hits[0]!)}, max ${seconds(hits[4]!)}`);

  const dir = mkdtempSync(join(tmpdir(), 'bench-recipe-'));
  const patch = join(dir, '0001-bench.patch');
  const writePatch = (n: number) =>
    writeFileSync(patch, [
      '--- a/kernel/liveupdate/luo_core.c',
      '+++ b/kernel/liveupdate/luo_core.c',
      '@@ -1,2 +1,3 @@',
      ' // SPDX-License-Identifier: GPL-2.0',
      `+/* luo-harness benchmark edit ${n} */`,
      ' ',
      '',
    ].join('\n'));
  const recipe = () =>
    parseRecipe({
      source: { type: 'debian', package: 'linux-source-7.2' },
      patches: [patch],
      config: { base: 'allnoconfig', fragments: ['guest-minimal', 'liveupdate', 'iommu-vfio'] },
      cmdline: ['liveupdate=on'],
    }, join(dir, 'bench-patched.json'));
  writePatch(1);
  const [, patchedMs] = await time(() => buildKernel(recipe(), { cache, quiet: true }));
  console.log(`first build with a patch (private tree copy + full build): ${seconds(patchedMs)}`);
  writePatch(2);
  const [, rebuildMs] = await time(() => buildKernel(recipe(), { cache, quiet: true }));
  console.log(`rebuild after changing that patch (one file): ${seconds(rebuildMs)}`);
} finally {
  if (!process.argv.includes('--keep')) rmSync(cache, { recursive: true, force: true });
}
