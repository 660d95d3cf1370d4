// The posted PCI and VFIO live-update series (../shared/series from the
// project's root): test input the project does not carry. The fixture
// kernel built from them, and why its tests skip where they are absent.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../harness/paths.ts';

export const SERIES_DIR = join(repoRoot, '..', 'shared', 'series');
export const SERIES_FILES = ['pci-liveupdate-v7.mbox', 'vfio-liveupdate-v5.mbox'];
/** The recipe: luo-7.3 with both series, sharing its tree and build directory. */
export const SERIES_FIXTURE = join(repoRoot, 'tests', 'fixtures', 'kernels', 'pci-vfio-series.json');

/** Why the series' tests cannot run here, or undefined when they can. */
export function seriesFixtureMissing(): string | undefined {
  const absent = SERIES_FILES.filter((f) => !existsSync(join(SERIES_DIR, f)));
  return absent.length ? `../shared/series lacks ${absent.join(' and ')} (the posted PCI and VFIO series are test input the project does not carry)` : undefined;
}
