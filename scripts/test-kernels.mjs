// The kernels the e2e tests need, built before `npm test` (its pretest):
// the stock recipes, our planted-bug kernels, and, where ../shared/series
// holds the posted PCI and VFIO series, the kernel that carries them (last:
// it patches luo-7.3's tree and reuses its build directory), then luo-7.2's
// coverage twin. Where the
// series are absent, it says so; their tests skip, saying so too.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const kernels = ['luo-7.2', 'nolu-7.2', 'luo-7.3', 'tests/fixtures/kernels/memfd-bugs.json', 'tests/fixtures/kernels/memfd-late-writes.json'];
const series = ['pci-liveupdate-v7.mbox', 'vfio-liveupdate-v5.mbox'].map((f) => join(root, '..', 'shared', 'series', f));
if (series.every((f) => existsSync(f))) kernels.push('tests/fixtures/kernels/pci-vfio-series.json');
else process.stderr.write('test kernels: not building tests/fixtures/kernels/pci-vfio-series.json: ../shared/series lacks the posted PCI and VFIO series; their e2e tests will be skipped\n');
const build = (...args) => spawnSync(process.execPath, [join(root, 'bin', 'luo-harness.js'), 'kernel', 'build', ...args], { cwd: root, stdio: 'inherit' }).status ?? 1;
// And luo-7.2's coverage twin (gcov on the live-update code) for the coverage tests.
process.exit(build(...kernels) || build('--coverage', 'luo-7.2'));
