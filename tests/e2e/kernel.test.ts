// The kernel pipeline for real: Debian sources, a real build, the cache.
import test from 'ava';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildKernel } from '../../harness/kernel/pipeline.ts';
import { parseRecipe } from '../../harness/kernel/recipe.ts';
import { artifactPath } from '../../harness/kernel/artifact.ts';
import { verifyFiles } from '../../harness/kernel/store.ts';
import { ConfigError } from '../../harness/errors.ts';

const scratch = mkdtempSync(join(tmpdir(), 'e2e-kernel-'));
const recipeFile = (name: string) => join(scratch, `${name}.json`);
const stock = {
  source: { type: 'debian', package: 'linux-source-7.2' },
  config: { base: 'allnoconfig', fragments: ['guest-minimal', 'liveupdate', 'iommu-vfio'] },
  cmdline: ['liveupdate=on'],
};

test.serial('luo-7.2 builds into a manifest that shows a LUO kernel', async (t) => {
  const a = await buildKernel('luo-7.2', { quiet: true });
  const m = a.manifest;
  t.is(m.recipe, 'luo-7.2');
  t.regex(m.release, /^7\.2\.\d+/);
  t.is(m.source.kind, 'debian');
  for (const c of ['LIVEUPDATE', 'LIVEUPDATE_MEMFD', 'KEXEC_HANDOVER', 'KEXEC_FILE', 'IOMMUFD', 'VFIO_DEVICE_CDEV', 'RELOCATABLE'] as const) {
    t.true(m.capabilities[c], `CONFIG_${c}`);
  }
  t.false(m.capabilities.IOMMUFD_LIVEUPDATE, 'stock 7.2 has no iommufd preservation');
  t.true(existsSync(join(artifactPath(a, 'headers'), 'include', 'linux', 'liveupdate.h')));
  t.deepEqual(await verifyFiles(a.dir, m), []);
});

test.serial('an unchanged recipe is served from the cache', async (t) => {
  const first = await buildKernel('luo-7.2', { quiet: true });
  const phases: string[] = [];
  const second = await buildKernel('luo-7.2', { quiet: true, onPhase: (p) => phases.push(p) });
  t.is(second.dir, first.dir);
  t.is(second.manifest.builtAt, first.manifest.builtAt);
  t.deepEqual(phases, [], 'nothing fetched, configured or built');
});

test.serial('nolu-7.2, the negative control, has no LIVEUPDATE', async (t) => {
  const a = await buildKernel('nolu-7.2', { quiet: true });
  t.false(a.manifest.capabilities.LIVEUPDATE);
  t.false(a.manifest.capabilities.LIVEUPDATE_MEMFD);
  t.true(a.manifest.capabilities.KEXEC_HANDOVER);
});

test.serial('a patch that does not apply to the real tree names the patch, file and hunk', async (t) => {
  const patch = join(scratch, '0001-broken.patch');
  writeFileSync(patch, [
    '--- a/kernel/liveupdate/luo_core.c',
    '+++ b/kernel/liveupdate/luo_core.c',
    '@@ -1,3 +1,3 @@',
    ' this line is not in luo_core.c',
    '-nor is this one',
    '+so the hunk cannot apply',
    ' at all',
    '',
  ].join('\n'));
  const recipe = parseRecipe({ ...stock, name: 'e2e-broken-patch', patches: [patch] }, recipeFile('e2e-broken-patch'));
  const e = await t.throwsAsync(buildKernel(recipe, { quiet: true }), { instanceOf: ConfigError });
  t.regex(e!.message, /^patch 0001-broken\.patch does not apply in kernel\/liveupdate\/luo_core\.c \(hunks do not apply: Hunk #1 FAILED at 1\)/);
});

test.serial('a fragment asking for an option the kernel cannot give is refused with the option named', async (t) => {
  const fragment = join(scratch, 'wants-iommufd-preservation.config');
  // Not in stock 7.2: only the out-of-tree iommufd preservation series adds it.
  writeFileSync(fragment, 'CONFIG_IOMMUFD_LIVEUPDATE=y\n');
  const recipe = parseRecipe(
    { ...stock, name: 'e2e-unmet-config', config: { base: 'allnoconfig', fragments: [...stock.config.fragments, fragment] } },
    recipeFile('e2e-unmet-config'),
  );
  const e = await t.throwsAsync(buildKernel(recipe, { quiet: true }), { instanceOf: ConfigError });
  t.regex(e!.message, /1 requested Kconfig option\(s\) did not survive olddefconfig/);
  t.regex(e!.detail!, /CONFIG_IOMMUFD_LIVEUPDATE: requested y \(wants-iommufd-preservation\.config:1\), got n/);
});


test.after.always('remove the scratch recipes\' trees and build directories', async () => {
  const { rm } = await import('node:fs/promises');
  const { cacheLayout } = await import('../../harness/paths.ts');
  for (const name of ['e2e-broken-patch', 'e2e-unmet-config']) {
    for (const dir of [cacheLayout().trees, cacheLayout().build]) await rm(join(dir, name), { recursive: true, force: true });
  }
  await rm(scratch, { recursive: true, force: true });
});
